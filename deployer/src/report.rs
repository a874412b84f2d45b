//! What `plan`, `up` and `down` report: per-resource changes with attribute diffs, shown on the
//! terminal (`Display`) or as JSON (`Serialize`, `--output json`).

use std::fmt;

use serde::{Serialize, Serializer};

/// The kind of a row: one cloud resource or sub-resource. Shown and serialised as its name
/// (`"log group"`, `"http api"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Table,
    LogGroup,
    Role,
    RolePolicy,
    ManagedPolicy,
    Function,
    /// The function's reserved concurrency (`function.reserved_concurrency`).
    Concurrency,
    Permission,
    HttpApi,
    Integration,
    Route,
    Stage,
    UserPool,
    UserPoolClient,
    Authorizer,
    /// A published Lambda version (`{function}:{n}`).
    Version,
    /// The Lambda alias `live` the API invokes.
    Alias,
    /// A CloudWatch alarm (`alarms:`).
    Alarm,
    /// An SQS queue of `queues:`, or its dead-letter queue.
    Queue,
    /// The Lambda event source mapping that feeds a queue to the alias `live`.
    EventSource,
    /// The API's custom domain name (`api.domain`).
    DomainName,
    /// The mapping of the custom domain name to the API's `$default` stage.
    ApiMapping,
    /// A Route 53 alias record (A or AAAA) of the custom domain name.
    DnsRecord,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Table => "table",
            ResourceKind::LogGroup => "log group",
            ResourceKind::Role => "role",
            ResourceKind::RolePolicy => "role policy",
            ResourceKind::ManagedPolicy => "managed policy",
            ResourceKind::Function => "function",
            ResourceKind::Concurrency => "function concurrency",
            ResourceKind::Permission => "permission",
            ResourceKind::HttpApi => "http api",
            ResourceKind::Integration => "integration",
            ResourceKind::Route => "route",
            ResourceKind::Stage => "stage",
            ResourceKind::UserPool => "user pool",
            ResourceKind::UserPoolClient => "user pool client",
            ResourceKind::Authorizer => "authorizer",
            ResourceKind::Version => "version",
            ResourceKind::Alias => "alias",
            ResourceKind::Alarm => "alarm",
            ResourceKind::Queue => "queue",
            ResourceKind::EventSource => "event source mapping",
            ResourceKind::DomainName => "domain name",
            ResourceKind::ApiMapping => "api mapping",
            ResourceKind::DnsRecord => "dns record",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResourceKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A remark on a row, for people: what the data behind it is, never text to parse. Shown and
/// serialised as its sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `down` found nothing to delete.
    NotFound,
    /// The resource carries no oncely tags: never adopted nor deleted.
    LeftAlone,
    /// The table's key is not `id:S`; `up` cannot change that in place.
    KeyMismatch { key: String },
    /// `down` kept a table that still holds orders.
    KeptWithData { items: u64, orders: u64 },
    /// `down` kept a table whose deletion protection is on (no `--delete-data`).
    KeptProtected,
    /// `down` deleted a table holding this many items.
    ItemsDeleted { items: u64 },
    /// A route the config no longer lists.
    NoLongerInConfig,
    /// An inline policy other than ours on our role.
    NotLeastPrivilege,
    /// A managed policy attached to our role.
    Detached,
    /// The id of the deleted HTTP API.
    ApiId(String),
    /// `down` kept a user pool (and its client) that still has users.
    KeptWithUsers,
    /// An authorizer no route should use any more.
    NoLongerNeeded,
    /// Deleted together with its HTTP API.
    DeletedWithApi,
    /// The user pool's sign-in attribute is not email; it cannot be changed in place.
    UsernameMismatch { live: String },
    /// A version older than the last `function.keep_versions` that no alias points to.
    OlderThanKept { keep: u32 },
    /// An alarm that `alarms.enabled: false` turns off.
    AlarmsDisabled,
    /// The alias points to another version than the config's (after `rollback`).
    RolledBack,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::NotFound => f.write_str("not found"),
            Note::LeftAlone => f.write_str("exists without oncely's tags; left alone"),
            Note::KeyMismatch { key } => write!(
                f,
                "its key is {key} but the function needs id:S; a key cannot be changed in place: \
                delete the table (`down --delete-data`) and run `up` again"
            ),
            Note::KeptWithData { items, orders } => write!(
                f,
                "kept: it still holds {items} items ({orders} orders); pass --delete-data to delete it with its data"
            ),
            Note::KeptProtected => f.write_str(
                "kept: deletion protection is on; `down --delete-data` turns it off and deletes the table with \
                its data (or set table.deletion_protection: false and run `up` first)",
            ),
            Note::ItemsDeleted { items } => write!(f, "{items} items deleted"),
            Note::NoLongerInConfig => f.write_str("no longer in the config"),
            Note::NotLeastPrivilege => f.write_str("not part of the least-privilege policy"),
            Note::Detached => f.write_str("detached: the role keeps only its inline policy"),
            Note::ApiId(id) => write!(f, "api id {id}"),
            Note::KeptWithUsers => {
                f.write_str("kept: the user pool still has users; pass --delete-data to delete it with its users")
            }
            Note::NoLongerNeeded => f.write_str("no route needs it any more"),
            Note::DeletedWithApi => f.write_str("deleted with its HTTP API"),
            Note::UsernameMismatch { live } => write!(
                f,
                "users sign in with `{live}` but oncely's pools use `email`; this cannot be changed in place \
                (the pool is used as it is)"
            ),
            Note::OlderThanKept { keep } => write!(f, "older than the last {keep} versions (function.keep_versions)"),
            Note::AlarmsDisabled => f.write_str("alarms are disabled in the config"),
            Note::RolledBack => f.write_str("rolled back: `up` points it at the config's version again"),
        }
    }
}

impl Serialize for Note {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The command a [`Report`] is the result of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Plan,
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
    /// A resource with our name that we do not own (no oncely tags): never adopted nor deleted.
    Foreign,
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Unchanged => "=",
            Action::Foreign => "!",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
            Action::Foreign => "not ours",
        }
    }
}

/// One attribute that differs: its live value and the wanted one (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttrDiff {
    pub attribute: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One resource (or sub-resource such as a route) and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub resource: ResourceKind,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttrDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

impl Change {
    pub fn new(resource: ResourceKind, name: impl Into<String>, action: Action) -> Self {
        Change {
            resource,
            name: name.into(),
            action,
            attributes: Vec::new(),
            note: None,
        }
    }

    /// A create, listing the attributes it sets.
    pub fn create(resource: ResourceKind, name: impl Into<String>, attrs: Vec<(&str, String)>) -> Self {
        let mut c = Change::new(resource, name, Action::Create);
        c.attributes = attrs
            .into_iter()
            .map(|(a, v)| AttrDiff {
                attribute: a.to_string(),
                from: None,
                to: Some(v),
            })
            .collect();
        c
    }

    /// An update when any attribute differs, else unchanged.
    pub fn compare(resource: ResourceKind, name: impl Into<String>, diffs: Vec<AttrDiff>) -> Self {
        let action = if diffs.is_empty() {
            Action::Unchanged
        } else {
            Action::Update
        };
        let mut c = Change::new(resource, name, action);
        c.attributes = diffs;
        c
    }

    pub fn with_note(mut self, note: Note) -> Self {
        self.note = Some(note);
        self
    }

    /// Whether this change touches the named attribute (or one under it, `environment.X`).
    pub fn touches(&self, attribute: &str) -> bool {
        self.attributes.iter().any(|a| {
            a.attribute == attribute || a.attribute.strip_prefix(attribute).is_some_and(|r| r.starts_with('.'))
        })
    }

    pub fn is_noop(&self) -> bool {
        matches!(self.action, Action::Unchanged | Action::Foreign)
    }
}

/// Pushes an [`AttrDiff`] when `live` and `want` differ.
pub fn diff_attr<T: PartialEq + fmt::Display>(
    out: &mut Vec<AttrDiff>,
    attribute: &str,
    live: Option<&T>,
    want: Option<&T>,
) {
    if live != want {
        out.push(AttrDiff {
            attribute: attribute.to_string(),
            from: live.map(ToString::to_string),
            to: want.map(ToString::to_string),
        });
    }
}

/// The result of a command: counts, then every change.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: Command,
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// API Gateway's name for the custom domain: where its DNS name points (`api.domain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    /// Where the API's tokens come from (set when `api.auth` is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthOutputs>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The secrets the function reads during init: references and whether they exist, never values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<crate::resources::secrets::SecretLive>,
    /// Whether changes were actually made (false for `plan` and for a no-op `up`).
    pub applied: bool,
}

impl Report {
    pub fn new(command: Command, changes: Vec<Change>) -> Self {
        let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
        Report {
            command,
            create: count(Action::Create),
            update: count(Action::Update),
            delete: count(Action::Delete),
            unchanged: count(Action::Unchanged),
            changes,
            endpoint: None,
            domain_target: None,
            function_name: None,
            table_name: None,
            auth: None,
            warnings: Vec::new(),
            secrets: Vec::new(),
            applied: false,
        }
    }

    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.delete > 0
    }

    pub fn summary(&self) -> String {
        format!(
            "{} to create, {} to update, {} to delete, {} unchanged",
            self.create, self.update, self.delete, self.unchanged
        )
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  {} {} {} ({})",
            self.action.symbol(),
            self.resource,
            self.name,
            self.action.verb()
        )?;
        if let Some(note) = &self.note {
            write!(f, ": {note}")?;
        }
        for a in &self.attributes {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
            match self.action {
                Action::Create => write!(f, "\n      {} = {}", a.attribute, show(&a.to))?,
                _ => write!(f, "\n      {}: {} -> {}", a.attribute, show(&a.from), show(&a.to))?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.changes.iter().filter(|c| c.action != Action::Unchanged) {
            writeln!(f, "{c}")?;
        }
        let line = match (self.command, self.applied) {
            (Command::Plan, _) => format!("Plan: {}", self.summary()),
            (Command::Up, true) => format!(
                "Done: {} created, {} updated, {} deleted, {} unchanged",
                self.create, self.update, self.delete, self.unchanged
            ),
            (Command::Up, false) => format!("No changes: the stack is up to date ({} unchanged)", self.unchanged),
            (Command::Down, true) => format!("Done: {} deleted", self.delete),
            (Command::Down, false) => "Nothing to delete: no resources of this stack were found".to_string(),
        };
        writeln!(f, "{line}")?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        if let Some(e) = &self.endpoint {
            writeln!(f, "endpoint: {e}")?;
        }
        if let Some(t) = &self.domain_target {
            writeln!(
                f,
                "domain target: {t} (the domain's alias records, or a CNAME, point here)"
            )?;
        }
        if let Some(n) = &self.function_name {
            writeln!(f, "function: {n}")?;
        }
        if let Some(n) = &self.table_name {
            writeln!(f, "table:    {n}")?;
        }
        if let Some(a) = &self.auth {
            write!(f, "{a}")?;
        }
        for s in &self.secrets {
            writeln!(f, "secret:   {s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_summary() {
        let mut diffs = Vec::new();
        diff_attr(&mut diffs, "memory_size", Some(&128), Some(&256));
        diff_attr(&mut diffs, "timeout", Some(&15), Some(&15));
        let changes = vec![
            Change::create(
                ResourceKind::Table,
                "a",
                vec![("billing_mode", "PAY_PER_REQUEST".into())],
            ),
            Change::compare(ResourceKind::Function, "a", diffs),
            Change::compare(ResourceKind::LogGroup, "a", vec![]),
            Change::new(ResourceKind::Route, "GET /x", Action::Delete),
        ];
        let r = Report::new(Command::Plan, changes);
        assert_eq!((r.create, r.update, r.delete, r.unchanged), (1, 1, 1, 1));
        assert_eq!(r.summary(), "1 to create, 1 to update, 1 to delete, 1 unchanged");
        assert!(r.changes[1].touches("memory_size") && !r.changes[1].touches("timeout"));
        let text = r.to_string();
        assert!(text.contains("memory_size: 128 -> 256"), "{text}");
        assert!(!text.contains("log group"), "unchanged rows are not printed: {text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["create"], 1);
        assert_eq!(json["changes"][1]["attributes"][0]["to"], "256");
    }

    #[test]
    fn touches_matches_nested_attributes() {
        let c = Change::compare(
            ResourceKind::Function,
            "f",
            vec![AttrDiff {
                attribute: "environment.FOO".into(),
                from: None,
                to: Some("1".into()),
            }],
        );
        assert!(c.touches("environment"));
        assert!(!c.touches("env"));
    }

    #[test]
    fn kinds_notes_and_commands_serialise_as_their_text() {
        use ResourceKind::*;
        let kinds = [
            Table,
            LogGroup,
            Role,
            RolePolicy,
            ManagedPolicy,
            Function,
            Permission,
            HttpApi,
            Integration,
            Route,
            Stage,
            UserPool,
            UserPoolClient,
            Authorizer,
            Version,
            Alias,
            Alarm,
        ];
        let json: Vec<serde_json::Value> = kinds.iter().map(|k| serde_json::to_value(k).unwrap()).collect();
        assert_eq!(
            json,
            [
                "table",
                "log group",
                "role",
                "role policy",
                "managed policy",
                "function",
                "permission",
                "http api",
                "integration",
                "route",
                "stage",
                "user pool",
                "user pool client",
                "authorizer",
                "version",
                "alias",
                "alarm"
            ]
        );
        assert!(kinds.iter().all(|k| serde_json::to_value(k).unwrap() == k.to_string()));
        let note = Note::KeptWithData { items: 3, orders: 1 };
        assert_eq!(serde_json::to_value(&note).unwrap(), note.to_string());
        assert_eq!(serde_json::to_value(Command::Down).unwrap(), "down");
    }
}

/// Where the API's tokens come from, for people and for the frontend (`up`, `sync-endpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthOutputs {
    /// `cognito` or `jwt`.
    pub provider: &'static str,
    pub issuer: String,
    pub audience: Vec<String>,
    /// The Cognito app client the frontend signs in with (the audience for `cognito`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
}

impl fmt::Display for AuthOutputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "auth:     {} tokens from {}", self.provider, self.issuer)?;
        match &self.client_id {
            Some(id) => writeln!(f, "client:   {id}"),
            None => writeln!(f, "audience: {}", self.audience.join(", ")),
        }
    }
}
