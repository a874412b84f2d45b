//! RFC 8785 JSON Canonicalization Scheme (JCS): a strict parser that refuses what JCS cannot
//! canonicalise without loss (duplicate names, numbers a double cannot hold, invalid Unicode),
//! naming the place by its JSON pointer, and the canonical writer.

/// A parsed JSON value: numbers are IEEE 754 doubles, objects keep their members in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Why a JSON text has no lossless canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loss {
    /// An object has this name twice (compared after unescaping).
    DuplicateKey,
    /// A number whose value a double does not hold (`12345678901234567891`, `1e400`,
    /// `0.30000000000000001`): its canonical form would be another number.
    InexactNumber { literal: String },
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
    pub pointer: String,
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

/// ECMAScript's `Number.prototype.toString` of a finite double (RFC 8785 §3.2.2.3): the shortest
/// digits that round-trip, in plain notation from 1e-6 up to 1e21, else `d.ddde±x`. `-0` is `0`.
/// Panics on NaN and infinities, which JSON cannot hold (the parser never produces them).
pub fn number_to_string(value: f64) -> String {
    let mut out = String::new();
    write_number(value, &mut out);
    out
}

/// Writes [`number_to_string`]'s text into `out`, without allocating on its own.
pub fn write_number(value: f64, out: &mut String) {
    use std::fmt::Write as _;
    assert!(value.is_finite(), "JSON numbers are finite");
    if value == 0.0 {
        out.push('0');
        return;
    }
    // Integers a double holds exactly are their own shortest digits.
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        let _ = write!(out, "{}", value as i64);
        return;
    }
    let (digits, n) = shortest_digits(value.abs());
    let digits = digits.as_str();
    let k = digits.len() as i64;
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        let _ = write!(out, "{}", (n - 1).abs());
    }
}

/// Up to 40 ASCII digits on the stack: a double's significant digits.
#[derive(Clone, Copy)]
struct Digits {
    buf: [u8; 40],
    len: usize,
}

impl Digits {
    const fn new() -> Self {
        Digits { buf: [0; 40], len: 0 }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("ASCII")
    }

    fn push(&mut self, byte: u8) {
        self.buf[self.len] = byte;
        self.len += 1;
    }

    /// Drops trailing zeros.
    fn trimmed(mut self) -> Self {
        while self.len > 0 && self.buf[self.len - 1] == b'0' {
            self.len -= 1;
        }
        self
    }
}

impl std::fmt::Write for Digits {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The shortest digits `d1..dk` and the exponent `n` with `value = 0.d1..dk × 10^n` that read
/// back as `value`, the closest to it, and of two equally close the even one (ECMAScript's rule).
/// Linear in nothing: a few hundred nanoseconds for any double, nothing allocated.
fn shortest_digits(value: f64) -> (Digits, i64) {
    use std::fmt::Write as _;
    // ryu-js (Ryū as ECMAScript prints numbers) gives the shortest round-trip digits, the closest
    // among them, on the stack. ECMAScript settles an exact tie between two closest by the even
    // digit; so does Ryū, and this checks it again: a tie needs `value` itself to be
    // `0.d1..dk5 × 10^n` exactly, one digit more than the shortest form, so only doubles with few
    // exact digits can tie: those are found from the bits (`exact_digits`), never by expanding
    // the hundreds of digits most doubles have.
    let mut buffer = ryu_js::Buffer::new();
    let (digits, n) = ecmascript_digits(buffer.format_finite(value));
    let k = digits.len;
    if let Some((int, len, exact_n)) = exact_digits(value, k + 1)
        && len == k + 1
        && int % 10 == 5
        && exact_n == n
    {
        let lo = int / 10;
        let (lo, lo_n) = if lo % 2 == 0 { (lo, exact_n) } else { (lo + 1, exact_n) };
        let mut even = Digits::new();
        write!(even, "{lo}").expect("at most 39 digits");
        // `lo + 1` may have carried into one more digit (`99` → `100`).
        let even_n = lo_n + (even.len as i64 - k as i64);
        let even = even.trimmed();
        let mut back = Digits::new();
        if write!(back, "0.{}e{even_n}", even.as_str()).is_ok() && back.as_str().parse::<f64>() == Ok(value) {
            return (even, even_n);
        }
    }
    (digits, n)
}

/// Splits a number as ECMAScript prints it (`123.456`, `0.000001`, `1e+21`, `5e-324`) into its
/// significant digits (no leading or trailing zeros) and `n` of `0.digits × 10^n`.
fn ecmascript_digits(text: &str) -> (Digits, i64) {
    let text = text.trim_start_matches('-');
    let (mantissa, exponent) = match text.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().expect("an integer exponent")),
        None => (text, 0),
    };
    let point = mantissa.find('.').unwrap_or(mantissa.len()) as i64;
    let mut digits = Digits::new();
    let mut leading = 0;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        if digits.len == 0 && b == b'0' {
            leading += 1;
        } else {
            digits.push(b);
        }
    }
    (digits.trimmed(), point - leading + exponent)
}

/// The exact decimal value of a positive finite `value` as an integer of significant digits (no
/// trailing zeros), their count, and `n` of `0.digits × 10^n`, when it has at most `max` (≤ 38)
/// digits; `None` when it has more. With `value = m × 2^e` (`m` odd): for `e < 0` the digits are
/// those of `m × 5^-e`, for `e ≥ 0` those of `m × 2^e` without its factors of ten (which come
/// from `m`'s factors of five).
fn exact_digits(value: f64, max: usize) -> Option<(u128, usize, i64)> {
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    if m == 0 {
        return None;
    }
    let zeros = m.trailing_zeros();
    let (m, e) = (u128::from(m >> zeros), e + i64::from(zeros));
    let (int, tens) = if e < 0 {
        // m < 2^53; 5^32 < 2^75, and beyond it m × 5^-e has more than 22 digits.
        let power = u32::try_from(-e).ok().filter(|p| *p <= 32)?;
        (m * 5u128.pow(power), e)
    } else {
        let (mut m, mut tens) = (m, 0);
        while tens < e && m % 5 == 0 {
            m /= 5;
            tens += 1;
        }
        let shift = e - tens;
        // Past 2^127 the value has more than 38 digits.
        if shift + i64::from(128 - m.leading_zeros()) > 127 {
            return None;
        }
        (m << shift, tens)
    };
    let len = int.checked_ilog10().map_or(1, |l| l as usize + 1);
    (len <= max).then_some((int, len, len as i64 + tens))
}

/// Whether a number literal has exactly the value of the finite double `value`'s shortest form
/// (what its canonical text says), compared digit by digit without writing either: the literal's
/// significant digits (no leading or trailing zeros) and the exponent `n` of `0.digits × 10^n`
/// against [`shortest_digits`]'s.
fn literal_is_exact(literal: &str, value: f64) -> bool {
    let (negative, rest) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, "0"),
    };
    let int_len = mantissa.find('.').unwrap_or(mantissa.len()) as i64;
    let digits = mantissa.bytes().filter(u8::is_ascii_digit);
    let leading = digits.clone().take_while(|b| *b == b'0').count();
    let mut literal_digits = digits.skip(leading).peekable();
    if literal_digits.peek().is_none() {
        return value == 0.0;
    }
    if value == 0.0 || negative != (value < 0.0) {
        return false;
    }
    // Saturating: an exponent beyond any double still compares unequal.
    let exponent = exponent
        .trim_start_matches('+')
        .parse::<i64>()
        .unwrap_or(if exponent.starts_with('-') { -(1 << 40) } else { 1 << 40 });
    let (shortest, n) = shortest_digits(value.abs());
    if int_len + exponent - leading as i64 != n {
        return false;
    }
    // The literal's digits, less its trailing zeros, must be the shortest digits.
    let mut expected = shortest.as_str().bytes();
    let mut zeros = 0usize;
    for b in literal_digits {
        if b == b'0' {
            zeros += 1;
            continue;
        }
        for _ in 0..std::mem::take(&mut zeros) {
            if expected.next() != Some(b'0') {
                return false;
            }
        }
        if expected.next() != Some(b) {
            return false;
        }
    }
    expected.next().is_none()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rust's `d.ddde±x` as (significant digits, `n`), for the reference.
    fn split(text: &str) -> (String, i64) {
        let (mantissa, exponent) = text.split_once('e').unwrap();
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let digits = digits.trim_end_matches('0');
        let n = exponent.parse::<i64>().unwrap() + 1;
        (if digits.is_empty() { "0" } else { digits }.to_string(), n)
    }

    /// `0.digits × 10^n` plus one unit in the last digit.
    fn increment(digits: &str, n: i64) -> (String, i64) {
        let mut bytes = digits.as_bytes().to_vec();
        for i in (0..bytes.len()).rev() {
            if bytes[i] == b'9' {
                bytes[i] = b'0';
            } else {
                bytes[i] += 1;
                let text = String::from_utf8(bytes).expect("ASCII digits");
                return (text.trim_end_matches('0').to_string(), n);
            }
        }
        ("1".into(), n + 1)
    }

    /// The previous way, kept as the reference: ties settled from the full exact expansion.
    fn shortest_digits_by_expansion(value: f64) -> (String, i64) {
        let (digits, n) = split(&format!("{value:e}"));
        let (exact, exact_n) = split(&format!("{value:.1100e}"));
        let k = digits.len();
        if exact.len() == k + 1 && exact.ends_with('5') && exact_n == n {
            let lo = &exact[..k];
            let even = if lo.ends_with(['0', '2', '4', '6', '8']) {
                (lo.to_string(), exact_n)
            } else {
                increment(lo, exact_n)
            };
            if format!("0.{}e{}", even.0, even.1).parse::<f64>() == Ok(value) {
                return even;
            }
        }
        (digits, n)
    }

    fn shortest(value: f64) -> (String, i64) {
        let (digits, n) = shortest_digits(value);
        (digits.as_str().to_string(), n)
    }

    #[test]
    fn exact_digits_are_the_full_expansion_when_short_enough() {
        for value in [
            1.0,
            0.5,
            0.125,
            5e-324,
            1e22,
            1e23,
            9007199254740993.0,
            0.1,
            2.5,
            1.5e300,
            123456.75,
        ] {
            let (full, full_n) = split(&format!("{value:.1100e}"));
            match exact_digits(value, 38) {
                Some((int, len, n)) => {
                    assert_eq!((int.to_string(), n), (full.clone(), full_n), "{value:e}");
                    assert_eq!(len, full.len());
                }
                None => assert!(full.len() > 38, "{value:e} has {} digits", full.len()),
            }
        }
    }

    #[test]
    fn ties_are_settled_as_by_the_full_expansion() {
        // Doubles with few exact digits (where ties live) and random bit patterns.
        let mut values: Vec<f64> = Vec::new();
        for i in 1..4_000u32 {
            values.push(f64::from(i) / 64.0);
            values.push(f64::from(i) * 1e15);
            values.push(f64::from(i) / 1024.0 * 1e17);
        }
        // The reference is slow (up to 60 µs a double): the wide random sample is the node test's.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_finite() && v != 0.0 {
                values.push(v.abs());
            }
        }
        for &v in &values {
            assert_eq!(shortest(v), shortest_digits_by_expansion(v), "{v:e}");
        }
    }
}
