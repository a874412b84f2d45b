//! The JSON Schema of `stack.yaml`, generated from the raw structs that parse it, and the lookups
//! validation makes in it: the keys a mapping accepts (for "unknown key, did you mean ...").

use std::sync::OnceLock;

use serde_json::Value;

use super::raw::RawConfig;

/// The `$schema` the generated document declares.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The schema as `schema` prints it and `config/stack.schema.json` holds it.
pub fn json_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<RawConfig>()
            .to_value();
        if let Some(root) = schema.as_object_mut() {
            root.insert("$schema".into(), DIALECT.into());
            root.insert("title".into(), "Oncely stack (config/stack.yaml)".into());
        }
        schema
    })
}

/// The keys the mapping at a dotted YAML path accepts (`""` is the top level); `None` where the
/// keys are free (`function.environment`) or the path is not a mapping of the config.
pub(super) fn known_fields(path: &str) -> Option<Vec<&'static str>> {
    let root = json_schema();
    let mut node = object_of(root, root)?;
    if !path.is_empty() {
        for segment in path.split('.') {
            let child = node.get("properties")?.get(segment)?;
            node = object_of(root, child)?;
        }
    }
    if node.get("additionalProperties") != Some(&Value::Bool(false)) {
        return None;
    }
    let properties = node.get("properties").and_then(Value::as_object);
    Some(
        properties
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default(),
    )
}

/// The object schema `node` stands for: follows `$ref` into `$defs`, and looks through an
/// `Option`'s `anyOf [T, null]`.
fn object_of<'a>(root: &'a Value, node: &'a Value) -> Option<&'a Value> {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/$defs/")?;
        return object_of(root, root.get("$defs")?.get(name)?);
    }
    if let Some(variants) = node.get("anyOf").and_then(Value::as_array) {
        return variants.iter().find_map(|v| object_of(root, v));
    }
    let is_object = match node.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => false,
    };
    is_object.then_some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    const SHIPPED: &str = include_str!("../../config/stack.yaml");
    const SHIPPED_SCHEMA: &str = include_str!("../../config/stack.schema.json");

    fn sorted(path: &str) -> Option<Vec<&'static str>> {
        known_fields(path).map(|mut f| {
            f.sort_unstable();
            f
        })
    }

    /// Whether the generated schema accepts `yaml` (boon, a JSON Schema 2020-12 validator).
    fn schema_accepts(yaml: &str) -> Result<(), String> {
        let instance: Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("mem:///stack.schema.json", json_schema().clone())
            .map_err(|e| e.to_string())?;
        let mut schemas = boon::Schemas::new();
        let index = compiler
            .compile("mem:///stack.schema.json", &mut schemas)
            .map_err(|e| format!("the schema does not compile: {e}"))?;
        schemas.validate(&instance, index).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn fields_come_from_the_structs() {
        assert_eq!(sorted("api.throttle"), Some(vec!["burst", "rate"]));
        assert_eq!(
            sorted(""),
            Some(vec![
                "alarms",
                "api",
                "app",
                "frontend",
                "function",
                "idempotency",
                "local",
                "queues",
                "region",
                "stage",
                "table",
                "tags"
            ])
        );
        assert_eq!(sorted("api.auth.cognito"), Some(vec![]));
        assert_eq!(known_fields("function.environment"), None);
        assert_eq!(known_fields("tags"), None);
        assert_eq!(known_fields("app"), None);
        assert_eq!(known_fields("no.such.path"), None);
    }

    #[test]
    fn the_shipped_config_declares_and_satisfies_the_schema() {
        assert!(
            SHIPPED.starts_with("# yaml-language-server: $schema=./stack.schema.json\n"),
            "config/stack.yaml must start with the schema comment editors read"
        );
        schema_accepts(SHIPPED).unwrap();
        let committed: Value = serde_json::from_str(SHIPPED_SCHEMA).unwrap();
        assert!(
            &committed == json_schema(),
            "config/stack.schema.json is stale: run `cargo run -- schema > config/stack.schema.json`"
        );
    }

    /// Every property of every object in the schema says what it is for.
    #[test]
    fn every_field_has_a_description() {
        fn walk(path: &str, node: &Value, missing: &mut Vec<String>) {
            if let Some(properties) = node.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    let described = property
                        .get("description")
                        .and_then(Value::as_str)
                        .is_some_and(|d| d.len() > 10);
                    if !described {
                        missing.push(format!("{path}.{name}"));
                    }
                }
            }
        }
        let root = json_schema();
        let mut missing = Vec::new();
        walk("Stack", root, &mut missing);
        let defs = root["$defs"].as_object().unwrap();
        assert!(defs.len() >= 10, "{:?}", defs.keys());
        for (name, def) in defs {
            walk(name, def, &mut missing);
        }
        assert!(missing.is_empty(), "fields without a description: {missing:?}");
    }

    /// The schema and the validator agree: what one rejects, so does the other; the schema
    /// carries the validator's defaults and ranges.
    #[test]
    fn schema_and_validator_agree() {
        let base = "app: shop\nstage: prod\n";
        let rejected = [
            "function:\n  memory_mb: 64\n",
            "function:\n  memory_mb: 20000\n",
            "function:\n  timeout_s: 30\n",
            "function:\n  architecture: sparc\n",
            "function:\n  log_retention_days: 2\n",
            "function:\n  memry_mb: 512\n",
            "idempotency:\n  expires_after_s: 0\n",
            "idempotency:\n  key_prefix: \"\"\n",
            "api:\n  throttle: { rate: 20000 }\n",
            "api:\n  cors: { allow_origins: [\"*\"], max_age_s: 90000 }\n",
            "local:\n  concurrency: 65\n",
            "extra: 1\n",
        ];
        for case in rejected {
            let yaml = format!("{base}{case}");
            assert!(Config::parse(&yaml).is_err(), "the validator accepts {case:?}");
            assert!(schema_accepts(&yaml).is_err(), "the schema accepts {case:?}");
        }
        assert!(schema_accepts("stage: prod\n").is_err(), "`app` is required");
        assert!(
            schema_accepts("app: Shop!\nstage: prod\n").is_err(),
            "`app` has a pattern"
        );
        let accepted = [
            "function:\n  memory_mb: 10240\n  architecture: arm64\n  log_retention_days: 30\n",
            "api:\n  throttle: { burst: 0, rate: 0.5 }\n  auth: { cognito: {} }\n",
            "function:\n  environment: { MY_FLAG: \"1\" }\n",
            "idempotency:\n  key_prefix: payments\n",
        ];
        for case in accepted {
            let yaml = format!("{base}{case}");
            Config::parse(&yaml).unwrap();
            schema_accepts(&yaml).unwrap_or_else(|e| panic!("the schema rejects {case:?}: {e}"));
        }
        let memory = &json_schema()["$defs"]["Function"]["properties"]["memory_mb"];
        assert_eq!(
            (memory["minimum"].as_i64(), memory["maximum"].as_i64()),
            (Some(128), Some(10_240))
        );
        assert_eq!(memory["default"], 256);
        let defaults = Config::parse(base).unwrap();
        assert_eq!(
            i64::from(defaults.function.memory_mb),
            memory["default"].as_i64().unwrap()
        );
    }
}
