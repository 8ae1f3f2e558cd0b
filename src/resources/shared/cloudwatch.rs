//! CloudWatch: how other services' resources appear as metric dimensions.

/// The part of an ELBv2 ARN that CloudWatch uses as the dimension value
/// (`app/name/id` for a load balancer, `targetgroup/name/id` for a target group).
pub fn arn_dimension(arn: &str) -> &str {
    match arn.split_once(":loadbalancer/") {
        Some((_, rest)) => rest,
        None => arn.rsplit_once(':').map(|(_, rest)| rest).unwrap_or(arn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elb_arns_become_cloudwatch_dimensions() {
        assert_eq!(
            arn_dimension(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-lb/50dc6c495c0c9188"
            ),
            "app/web-lb/50dc6c495c0c9188"
        );
        assert_eq!(
            arn_dimension(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067"
            ),
            "targetgroup/web-tg/73e2d6bc24d8a067"
        );
    }
}
