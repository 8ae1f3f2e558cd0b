//! The JSON Schema of the spec format, for `modu schema` and for editors
//! (e.g. the YAML language server) to complete and check spec files.
//!
//! It is derived from the same raw structs the parser reads, so the two cannot
//! drift apart. The schema cannot express every check (a user_data file must
//! exist, `min <= desired <= max`, a DNS record lies inside its zone, CDN
//! aliases need a certificate, ...): `modu validate` is the full check.

use schemars::generate::SchemaSettings;

use super::raw::RawSpec;

/// The spec's JSON Schema (draft 2020-12).
pub fn json_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<RawSpec>();
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_draft_2020_12_with_closed_objects() {
        let schema = json_schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        let required = schema["required"].as_array().expect("required list");
        for field in ["stack", "region", "compute"] {
            assert!(required.iter().any(|r| r == field), "{field} not required");
        }
        for def in [
            "Compute",
            "LoadBalancer",
            "HealthCheck",
            "Network",
            "Storage",
            "Cdn",
            "Cache",
            "Dashboard",
            "Dns",
        ] {
            assert_eq!(
                schema["$defs"][def]["additionalProperties"], false,
                "{def} accepts unknown fields"
            );
        }
    }

    #[test]
    fn schema_describes_compute_limits_and_defaults() {
        let schema = json_schema();
        let compute = &schema["$defs"]["Compute"];
        assert_eq!(compute["required"], serde_json::json!(["instance_type"]));
        let min = &compute["properties"]["min"];
        assert_eq!(min["minimum"], 1);
        assert_eq!(min["maximum"], 1000);
        assert_eq!(min["default"], 2);
        assert!(min["description"].as_str().is_some_and(|d| !d.is_empty()));
        let algorithm = &schema["$defs"]["Algorithm"];
        let text = algorithm.to_string();
        assert!(text.contains("round_robin") && text.contains("least_outstanding_requests"));
    }

    #[test]
    fn schema_describes_the_optional_tiers() {
        let schema = json_schema();
        let properties = &schema["properties"];
        for tier in ["cdn", "cache", "dashboard", "dns"] {
            assert!(properties[tier].is_object(), "{tier} is described");
            assert!(
                properties[tier]["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("Default: off")),
                "{tier} says it is off by default"
            );
        }
        let required = schema["required"].as_array().expect("required list");
        for tier in ["cdn", "cache", "dashboard", "dns"] {
            assert!(!required.iter().any(|r| r == tier), "{tier} is optional");
        }

        let defs = &schema["$defs"];
        let consts = |def: &str| -> Vec<String> {
            defs[def]["oneOf"]
                .as_array()
                .unwrap_or_else(|| panic!("{def} is an enum"))
                .iter()
                .map(|variant| variant["const"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(
            consts("PriceClass"),
            ["PriceClass_100", "PriceClass_200", "PriceClass_All"]
        );
        assert_eq!(consts("CacheEngine"), ["redis", "valkey"]);
        assert_eq!(consts("DnsTarget"), ["cdn", "load_balancer"]);

        let cdn = &defs["Cdn"]["properties"];
        assert_eq!(cdn["enabled"]["default"], true);
        assert_eq!(cdn["price_class"]["default"], "PriceClass_100");
        assert_eq!(cdn["aliases"]["default"], serde_json::json!([]));
        assert_eq!(cdn["aliases"]["uniqueItems"], true);
        let cdn_cert = cdn["certificate_arn"]["pattern"].as_str().expect("pattern");
        assert!(cdn_cert.contains(":acm:us-east-1:"));

        let cache = &defs["Cache"]["properties"];
        assert_eq!(cache["engine"]["default"], "redis");
        assert_eq!(cache["node_type"]["default"], "cache.t3.micro");
        assert_eq!(
            (
                &cache["replicas"]["minimum"],
                &cache["replicas"]["maximum"],
                &cache["replicas"]["default"]
            ),
            (
                &serde_json::json!(0),
                &serde_json::json!(5),
                &serde_json::json!(1)
            )
        );

        assert_eq!(defs["Dashboard"]["properties"]["alarms"]["default"], true);
        let dashboard = &defs["Dashboard"];
        assert_eq!(dashboard["properties"]["notify"]["items"]["type"], "string");
        assert!(
            dashboard["properties"]["topic_arn"]["pattern"]
                .as_str()
                .is_some_and(|p| p.contains(":sns:"))
        );
        assert_eq!(
            dashboard["not"],
            serde_json::json!({ "required": ["notify", "topic_arn"] }),
            "notify and topic_arn exclude each other"
        );

        let dns = &defs["Dns"];
        assert_eq!(dns["properties"]["target"]["default"], "cdn");
        assert_eq!(dns["properties"]["create_zone"]["default"], false);
        // zone and record are needed unless the section is switched off.
        assert_eq!(
            dns["anyOf"][0]["required"],
            serde_json::json!(["zone", "record"])
        );
        assert_eq!(dns["anyOf"][1]["properties"]["enabled"]["const"], false);

        let lb_cert = &defs["LoadBalancer"]["properties"]["certificate_arn"];
        assert!(
            lb_cert["description"]
                .as_str()
                .is_some_and(|d| d.contains("HTTPS"))
        );
        assert!(
            lb_cert["pattern"]
                .as_str()
                .is_some_and(|p| p.contains(":acm:"))
        );
        for def in ["Cdn", "Cache", "Dashboard", "Dns"] {
            for (name, property) in defs[def]["properties"].as_object().expect("properties") {
                assert!(
                    property["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{def}.{name} has no description"
                );
            }
        }
    }

    #[test]
    fn dns_patterns_take_wildcard_aliases_and_trailing_dots() {
        let schema = json_schema();
        let defs = &schema["$defs"];
        let alias = defs["Cdn"]["properties"]["aliases"]["items"]["pattern"]
            .as_str()
            .expect("alias pattern");
        assert!(alias.starts_with("^(\\*\\.)?"), "{alias}");
        for field in ["zone", "record"] {
            let pattern = defs["Dns"]["properties"][field]["pattern"]
                .as_str()
                .expect("DNS name pattern");
            assert!(pattern.ends_with("\\.?$"), "{field}: {pattern}");
            assert!(!pattern.contains('*'), "{field} takes no wildcard");
        }
    }
}
