//! What `plan`, `up` and `down` report: per-resource changes with attribute diffs, shown on the
//! terminal (`Display`) or as JSON (`Serialize`, `--output json`).

use std::fmt;

use serde::Serialize;

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
    pub resource: String,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttrDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    pub fn new(resource: &str, name: impl Into<String>, action: Action) -> Self {
        Change {
            resource: resource.to_string(),
            name: name.into(),
            action,
            attributes: Vec::new(),
            note: None,
        }
    }

    /// A create, listing the attributes it sets.
    pub fn create(resource: &str, name: impl Into<String>, attrs: Vec<(&str, String)>) -> Self {
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
    pub fn compare(resource: &str, name: impl Into<String>, diffs: Vec<AttrDiff>) -> Self {
        let action = if diffs.is_empty() {
            Action::Unchanged
        } else {
            Action::Update
        };
        let mut c = Change::new(resource, name, action);
        c.attributes = diffs;
        c
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
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
    pub command: &'static str,
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether changes were actually made (false for `plan` and for a no-op `up`).
    pub applied: bool,
}

impl Report {
    pub fn new(command: &'static str, changes: Vec<Change>) -> Self {
        let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
        Report {
            command,
            create: count(Action::Create),
            update: count(Action::Update),
            delete: count(Action::Delete),
            unchanged: count(Action::Unchanged),
            changes,
            endpoint: None,
            function_name: None,
            table_name: None,
            warnings: Vec::new(),
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
            ("plan", _) => format!("Plan: {}", self.summary()),
            ("up", true) => format!(
                "Done: {} created, {} updated, {} deleted, {} unchanged",
                self.create, self.update, self.delete, self.unchanged
            ),
            ("up", false) => format!("No changes: the stack is up to date ({} unchanged)", self.unchanged),
            ("down", true) => format!("Done: {} deleted", self.delete),
            _ => "Nothing to delete: no resources of this stack were found".to_string(),
        };
        writeln!(f, "{line}")?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        if let Some(e) = &self.endpoint {
            writeln!(f, "endpoint: {e}")?;
        }
        if let Some(n) = &self.function_name {
            writeln!(f, "function: {n}")?;
        }
        if let Some(n) = &self.table_name {
            writeln!(f, "table:    {n}")?;
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
            Change::create("table", "a", vec![("billing_mode", "PAY_PER_REQUEST".into())]),
            Change::compare("function", "a", diffs),
            Change::compare("log group", "a", vec![]),
            Change::new("route", "GET /x", Action::Delete),
        ];
        let r = Report::new("plan", changes);
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
            "function",
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
}
