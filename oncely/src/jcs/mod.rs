//! RFC 8785 JSON Canonicalization Scheme (JCS): a strict parser that refuses what JCS cannot
//! canonicalise without loss (duplicate names, numbers a double cannot hold, invalid Unicode),
//! naming the place by its JSON pointer, and the canonical writer.

mod number;

use number::literal_is_exact;
pub use number::{number_to_string, write_number};

/// A parsed JSON value: numbers are IEEE 754 doubles, objects keep their members in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as the double it denotes.
    Number(f64),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object's members in input order.
    Object(Vec<(String, Json)>),
}

/// Why a JSON text has no lossless canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loss {
    /// An object has this name twice (compared after unescaping).
    DuplicateKey,
    /// A number whose value a double does not hold (`12345678901234567891`, `1e400`,
    /// `0.30000000000000001`): its canonical form would be another number.
    InexactNumber {
        /// The number as written.
        literal: String,
    },
    /// A string (or a name of the object pointed at) that is not valid Unicode: a lone surrogate
    /// escape such as `\ud800`, or invalid UTF-8.
    InvalidUnicode,
}

impl Loss {
    /// A stable name: `duplicate-key`, `inexact-number` or `invalid-unicode`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Loss::DuplicateKey => "duplicate-key",
            Loss::InexactNumber { .. } => "inexact-number",
            Loss::InvalidUnicode => "invalid-unicode",
        }
    }
}

/// A JSON text JCS cannot canonicalise without loss, with the JSON pointer (RFC 6901) of the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.loss, .pointer))]
pub struct LossyJson {
    /// Where (RFC 6901), `""` for the whole text.
    pub pointer: String,
    /// What would be lost.
    pub loss: Loss,
}

fn describe(loss: &Loss, pointer: &str) -> String {
    let at = if pointer.is_empty() { "the body" } else { pointer };
    match loss {
        Loss::DuplicateKey => format!("the JSON member `{at}` appears more than once"),
        Loss::InexactNumber { literal } => {
            format!("the number {literal} at `{at}` cannot be held exactly by an IEEE 754 double")
        }
        Loss::InvalidUnicode => format!("the string at `{at}` is not valid Unicode"),
    }
}

/// Why [`parse`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all (RFC 8259), or nested deeper than [`MAX_DEPTH`].
    #[error("not JSON: {0}")]
    Syntax(String),
    /// JSON, but without a lossless canonical form.
    #[error(transparent)]
    Lossy(#[from] LossyJson),
}

/// The deepest nesting parsed (as `serde_json`'s recursion limit).
pub const MAX_DEPTH: usize = 128;

/// Parses `text` strictly: RFC 8259 syntax, no duplicate names, every number exactly what its
/// canonical form says, every string valid Unicode.
pub fn parse(text: &[u8]) -> Result<Json, ParseError> {
    parse_with(text, true)
}

/// Like [`parse`], but as RFC 8785 itself: a number is read as the double nearest it
/// (`333333333.33333329` is `333333333.3333333`); only one outside the doubles' range is refused.
pub fn parse_nearest(text: &[u8]) -> Result<Json, ParseError> {
    parse_with(text, false)
}

fn parse_with(text: &[u8], exact: bool) -> Result<Json, ParseError> {
    let mut parser = Parser {
        text,
        pos: 0,
        path: Vec::new(),
        exact,
    };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(parser.syntax("trailing characters"));
    }
    Ok(value)
}

/// The RFC 8785 canonical text of a JSON text, refusing lossy input (see [`parse`]).
pub fn canonicalize(text: &[u8]) -> Result<String, ParseError> {
    Ok(to_canonical(&parse(text)?))
}

/// The RFC 8785 canonical text with numbers rounded to the nearest double (see [`parse_nearest`]).
pub fn canonicalize_nearest(text: &[u8]) -> Result<String, ParseError> {
    Ok(to_canonical(&parse_nearest(text)?))
}

/// The canonical text of a value.
pub fn to_canonical(value: &Json) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Writes `value` canonically: names sorted by UTF-16 code units, no whitespace, strings escaped
/// as ECMAScript's `JSON.stringify` does, numbers as its `Number.prototype.toString`.
pub fn write(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => write_number(*n, out),
        Json::String(s) => write_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            let mut sorted: Vec<&(String, Json)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
    }
}

/// A string as ECMAScript's `JSON.stringify` writes it (RFC 8785 §3.2.2.2).
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One step of the JSON pointer of the value being parsed, kept cheap: a member's name is read
/// again from the text only when an error names it.
#[derive(Clone, Copy)]
enum Step {
    Index(usize),
    /// The byte offset of the member name's opening quote.
    Name(usize),
}

/// Objects with more members than this detect duplicate names with a hash set (fewer: a scan).
const SCAN_MEMBERS: usize = 16;

#[derive(Clone)]
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    /// The JSON pointer of the value being parsed.
    path: Vec<Step>,
    /// Refuse numbers that are not exactly their canonical form (else: nearest double).
    exact: bool,
}

impl Parser<'_> {
    fn syntax(&self, what: &str) -> ParseError {
        ParseError::Syntax(format!("{what} at byte {}", self.pos))
    }

    fn lossy(&self, loss: Loss) -> ParseError {
        let pointer = self
            .path
            .iter()
            .map(|step| match *step {
                Step::Index(i) => format!("/{i}"),
                Step::Name(at) => {
                    let mut again = Parser {
                        text: self.text,
                        pos: at,
                        path: Vec::new(),
                        exact: self.exact,
                    };
                    let name = again.string().unwrap_or_default();
                    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
                }
            })
            .collect();
        ParseError::Lossy(LossyJson { pointer, loss })
    }

    fn skip_ws(&mut self) {
        while matches!(self.text.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, ParseError> {
        if self.text[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.syntax("nesting too deep"));
        }
        match self.text.get(self.pos) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.syntax("expected a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        let mut names: Option<std::collections::HashSet<String>> = None;
        self.skip_ws();
        if self.text.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.text.get(self.pos) != Some(&b'"') {
                return Err(self.syntax("expected a member name"));
            }
            let at = self.pos;
            let name = self.string()?;
            self.path.push(Step::Name(at));
            let duplicate = match &mut names {
                Some(names) => !names.insert(name.clone()),
                None if members.len() < SCAN_MEMBERS => members.iter().any(|(n, _)| *n == name),
                None => {
                    let mut set: std::collections::HashSet<String> = members.iter().map(|(n, _)| n.clone()).collect();
                    let duplicate = !set.insert(name.clone());
                    names = Some(set);
                    duplicate
                }
            };
            if duplicate {
                return Err(self.lossy(Loss::DuplicateKey));
            }
            self.skip_ws();
            if self.text.get(self.pos) != Some(&b':') {
                return Err(self.syntax("expected `:`"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            self.path.pop();
            members.push((name, value));
            self.skip_ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.syntax("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.text.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            self.path.push(Step::Index(items.len()));
            let value = self.value(depth + 1)?;
            self.path.pop();
            items.push(value);
            self.skip_ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.syntax("expected `,` or `]`")),
            }
        }
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while matches!(p.text.get(p.pos), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.text.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int = digits(self);
        if int == 0 || (int > 1 && self.text[int_start] == b'0') {
            return Err(self.syntax("invalid number"));
        }
        if self.text.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.syntax("invalid number"));
            }
        }
        if matches!(self.text.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.text.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.syntax("invalid number"));
            }
        }
        let literal = std::str::from_utf8(&self.text[start..self.pos]).expect("ASCII");
        let value: f64 = literal.parse().map_err(|_| self.syntax("invalid number"))?;
        // A literal of at most 15 significant digits is exactly the shortest form of its double
        // when that is normal: two such decimals are at least 1e-15 apart relatively, a double's
        // rounding interval less than 2.3e-16 wide, so no other short decimal rounds to it.
        let significant = || {
            let mantissa = literal.split(['e', 'E']).next().unwrap_or_default().as_bytes();
            let nonzero = |b: &u8| b.is_ascii_digit() && *b != b'0';
            match (mantissa.iter().position(nonzero), mantissa.iter().rposition(nonzero)) {
                (Some(first), Some(last)) => mantissa[first..=last].iter().filter(|b| b.is_ascii_digit()).count(),
                _ => 0,
            }
        };
        let inexact = || {
            let short = significant();
            let plainly_exact = short == 0 || (short <= 15 && value.is_normal());
            !plainly_exact && !literal_is_exact(literal, value)
        };
        if !value.is_finite() || (self.exact && inexact()) {
            return Err(self.lossy(Loss::InexactNumber {
                literal: literal.to_string(),
            }));
        }
        Ok(Json::Number(value))
    }

    /// A string token; `path` is that of the value, or (for a name) of its object.
    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1;
        let mut units: Vec<u16> = Vec::new();
        loop {
            let start = self.pos;
            while matches!(self.text.get(self.pos), Some(b) if *b != b'"' && *b != b'\\' && *b >= 0x20) {
                self.pos += 1;
            }
            let run = std::str::from_utf8(&self.text[start..self.pos]).map_err(|_| self.lossy(Loss::InvalidUnicode))?;
            units.extend(run.encode_utf16());
            match self.text.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf16(&units).map_err(|_| self.lossy(Loss::InvalidUnicode));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let unit = match self.text.get(self.pos) {
                        Some(b'"') => 0x22,
                        Some(b'\\') => 0x5c,
                        Some(b'/') => 0x2f,
                        Some(b'b') => 0x8,
                        Some(b'f') => 0xc,
                        Some(b'n') => 0x0a,
                        Some(b'r') => 0x0d,
                        Some(b't') => 0x09,
                        Some(b'u') => {
                            let hex = self
                                .text
                                .get(self.pos + 1..self.pos + 5)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                                .ok_or_else(|| self.syntax("invalid \\u escape"))?;
                            self.pos += 4;
                            u16::from_str_radix(hex, 16).expect("four hex digits")
                        }
                        _ => return Err(self.syntax("invalid escape")),
                    };
                    self.pos += 1;
                    units.push(unit);
                }
                None => return Err(self.syntax("unterminated string")),
                Some(_) => return Err(self.syntax("control character in a string")),
            }
        }
    }
}
