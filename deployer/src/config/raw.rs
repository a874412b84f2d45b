//! The raw serde structs of the stack's YAML config: exactly what the file may say, nothing
//! checked yet (that is `validate`'s job).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor, value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) app: Option<String>,
    pub(super) stage: Option<String>,
    pub(super) region: Option<String>,
    #[serde(default)]
    pub(super) table: RawTable,
    #[serde(default)]
    pub(super) function: RawFunction,
    #[serde(default)]
    pub(super) idempotency: RawIdempotency,
    #[serde(default)]
    pub(super) api: RawApi,
    #[serde(default)]
    pub(super) frontend: RawFrontend,
    #[serde(default)]
    pub(super) local: RawLocal,
    /// CloudWatch alarms on the function's errors, `failed` outcomes and throttles (on by default).
    #[serde(default)]
    pub(super) alarms: RawAlarms,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub(super) ttl_attribute: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFunction {
    pub(super) package: Option<String>,
    pub(super) architecture: Option<String>,
    pub(super) memory_mb: Option<i64>,
    pub(super) timeout_s: Option<i64>,
    pub(super) log_retention_days: Option<i64>,
    pub(super) environment: Option<BTreeMap<String, String>>,
    /// How many published versions of the function to keep (1..100, default 5); older ones that no
    /// alias points to are deleted by `up`. `rollback` can go back to any kept version.
    pub(super) keep_versions: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdempotency {
    pub(super) expires_after_s: Option<i64>,
    pub(super) header: Option<String>,
    pub(super) local_cache_items: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub(super) routes: Option<Vec<String>>,
    pub(super) cors: Option<RawCors>,
    pub(super) throttle: Option<RawThrottle>,
    pub(super) auth: Option<RawAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub(super) cognito: Option<RawCognito>,
    pub(super) jwt: Option<RawJwt>,
    pub(super) public_routes: Option<Vec<String>>,
}

/// `cognito: {}`: the deployer creates the user pool and app client; nothing to set yet.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCognito {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJwt {
    pub(super) issuer: Option<String>,
    pub(super) audience: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCors {
    pub(super) allow_origins: Option<Vec<String>>,
    pub(super) allow_methods: Option<Vec<String>>,
    pub(super) allow_headers: Option<Vec<String>>,
    pub(super) expose_headers: Option<Vec<String>>,
    pub(super) max_age_s: Option<i64>,
    pub(super) allow_credentials: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThrottle {
    pub(super) burst: Option<i64>,
    pub(super) rate: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFrontend {
    pub(super) env_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocal {
    pub(super) concurrency: Option<i64>,
}

/// `alarms:`: the deployer's CloudWatch alarms.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlarms {
    /// Whether `up` creates the alarms `{app}-{stage}-errors`, `-failed` and `-throttles` (default
    /// true); false deletes them.
    pub(super) enabled: Option<bool>,
    /// SNS topic ARNs notified when an alarm goes off (and back to OK); default none.
    pub(super) actions: Option<Vec<String>>,
}

/// The keys the mapping at a dotted YAML path accepts (`""` is the top level), so that every unknown
/// key is reported, not only the first; `None` where the keys are free (`function.environment`).
/// The names come from the structs themselves.
pub(super) fn known_fields(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "" => fields_of::<RawConfig>(),
        "table" => fields_of::<RawTable>(),
        "function" => fields_of::<RawFunction>(),
        "idempotency" => fields_of::<RawIdempotency>(),
        "api" => fields_of::<RawApi>(),
        "api.cors" => fields_of::<RawCors>(),
        "api.throttle" => fields_of::<RawThrottle>(),
        "api.auth" => fields_of::<RawAuth>(),
        "api.auth.cognito" => fields_of::<RawCognito>(),
        "api.auth.jwt" => fields_of::<RawJwt>(),
        "frontend" => fields_of::<RawFrontend>(),
        "local" => fields_of::<RawLocal>(),
        "alarms" => fields_of::<RawAlarms>(),
        _ => return None,
    })
}

/// The field names serde-derive gives a struct's `Deserialize` (in declaration order, after any
/// renames); empty for a type that is not a struct.
pub(super) fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    // The recorder always fails: it only wants to see the `fields` argument.
    let _ = T::deserialize(FieldsRecorder(&mut fields));
    fields.unwrap_or(&[])
}

/// A `Deserializer` that records the `fields` serde-derive passes to `deserialize_struct`, and
/// deserializes nothing.
struct FieldsRecorder<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldsRecorder<'_> {
    type Error = value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, value::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("only the field names were wanted"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, value::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_from_the_structs_in_declaration_order() {
        assert_eq!(fields_of::<RawThrottle>(), ["burst", "rate"]);
        assert_eq!(
            known_fields(""),
            Some(
                &[
                    "app",
                    "stage",
                    "region",
                    "table",
                    "function",
                    "idempotency",
                    "api",
                    "frontend",
                    "local",
                    "alarms"
                ][..]
            )
        );
        assert_eq!(known_fields("function.environment"), None);
        assert!(fields_of::<String>().is_empty());
    }
}
