//! Text for a terminal: data from outside (log lines, names and values AWS returns) is shown with
//! its control characters escaped, so it cannot move the cursor, clear the screen, retitle the
//! window or hide what follows.

use std::borrow::Cow;

/// `text` with every C0 control (but newline and tab), DEL and C1 control written as `\u{..}`.
///
/// ```
/// assert_eq!(deployer::terminal::printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\n");
/// assert_eq!(deployer::terminal::printable("plain"), "plain");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    let control = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.contains(control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if control(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("ok\tline\nnext"), "ok\tline\nnext");
        assert_eq!(printable("\u{1b}]0;owned\u{7}"), "\\u{1b}]0;owned\\u{7}");
        assert_eq!(printable("\u{9b}31m\u{7f}\r"), "\\u{9b}31m\\u{7f}\\u{d}");
        assert_eq!(printable("é ✓ 日本"), "é ✓ 日本");
    }
}
