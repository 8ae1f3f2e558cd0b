//! The JSON Schema of the spec format, for `modu schema` and for editors
//! (e.g. the YAML language server) to complete and check spec files.
//!
//! It is derived from the same raw structs the parser reads, so the two cannot
//! drift apart. The schema cannot express every check (a user_data file must
//! exist, `min <= desired <= max`, ...): `modu validate` is the full check.

use schemars::generate::SchemaSettings;

use super::parse::RawSpec;

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
}
