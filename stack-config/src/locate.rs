//! Finds where a dotted YAML path (`api.cors.allow_origins`, `api.routes[1]`) is in the config's
//! text, as a 1-based line:column, so that every problem can point at its line.

/// Finds the line:column of a dotted YAML path in the source text. It understands the block and
/// flow mappings a hand-written config uses; when it cannot tell, it answers (None, None).
pub(super) struct Locator {
    lines: Vec<String>,
}

impl Locator {
    pub(super) fn new(text: &str) -> Self {
        Locator {
            lines: text.lines().map(str::to_string).collect(),
        }
    }

    pub(super) fn find(&self, path: &str) -> (Option<usize>, Option<usize>) {
        let mut start_line = 0;
        let mut min_indent: Option<usize> = None;
        let mut inline_from: Option<(usize, usize)> = None; // (line, column) inside a flow mapping
        let mut found = (None, None);
        for part in path.split('.') {
            let part = part.split('[').next().unwrap_or(part);
            let mut hit = None;
            if let Some((l, c)) = inline_from {
                if let Some(i) = find_key(&self.lines[l][c..], part) {
                    hit = Some((l, c + i));
                }
            } else {
                for (l, line) in self.lines.iter().enumerate().skip(start_line) {
                    let trimmed = line.trim_start();
                    if trimmed.is_empty() || trimmed.starts_with('#') {
                        continue;
                    }
                    let indent = line.len() - trimmed.len();
                    if let Some(min) = min_indent
                        && indent < min
                    {
                        break;
                    }
                    if key_at(trimmed, part) && min_indent.is_none_or(|m| indent >= m) {
                        hit = Some((l, indent));
                        break;
                    }
                }
            }
            let Some((l, c)) = hit else { return found };
            found = (Some(l + 1), Some(c + 1));
            // Where do this key's children live?
            let after = &self.lines[l][c + part.len()..];
            let rest = after.trim_start_matches([':', ' ', '"', '\'']);
            if rest.starts_with('{') {
                inline_from = Some((l, self.lines[l].len() - rest.len()));
            } else {
                inline_from = None;
                start_line = l + 1;
                min_indent = Some(c + 1);
            }
        }
        found
    }
}

fn key_at(text: &str, key: &str) -> bool {
    let unquoted = text
        .strip_prefix(key)
        .map(|r| r.trim_start().starts_with(':'))
        .unwrap_or(false);
    let quoted = [format!("\"{key}\""), format!("'{key}'")].iter().any(|q| {
        text.strip_prefix(q.as_str())
            .is_some_and(|r| r.trim_start().starts_with(':'))
    });
    unquoted || quoted
}

fn find_key(text: &str, key: &str) -> Option<usize> {
    // An empty part (a key with a dot in it, `...burst`, splits into some): nothing to find, and
    // searching for "" would find it at the same place forever.
    if key.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        let before_ok = at == 0 || matches!(text.as_bytes()[at - 1], b' ' | b'{' | b',' | b'"' | b'\'');
        if before_ok && key_at(text[at..].trim_start_matches(['"', '\'']), key) {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_flow_mappings() {
        let text = "# comment\napp: a\napi:\n  routes: [\"GET /\"]\n  cors: { allow_origins: [], max_age_s: 1 }\n";
        let locator = Locator::new(text);
        assert_eq!(locator.find("app"), (Some(2), Some(1)));
        assert_eq!(locator.find("api.routes[0]"), (Some(4), Some(3)));
        assert_eq!(locator.find("api.cors.allow_origins"), (Some(5), Some(11)));
        assert_eq!(locator.find("api.cors.max_age_s"), (Some(5), Some(30)));
        // A missing key: where its parent is.
        assert_eq!(locator.find("api.throttle"), (Some(3), Some(1)));
        assert_eq!(locator.find("stage"), (None, None));
    }

    #[test]
    fn keys_with_dots_are_found_up_to_their_parent() {
        // Found by fuzzing: `{ ...burst: 1 }` made the path `api.throttle....burst`, whose empty
        // parts were searched for forever.
        let text = "api:\n  throttle: { ...burst: 1, rate: 5 }\n";
        let locator = Locator::new(text);
        assert_eq!(locator.find("api.throttle....burst"), (Some(2), Some(3)));
        assert_eq!(locator.find("api..x"), (Some(1), Some(1)));
    }
}
