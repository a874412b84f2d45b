//! JCS numbers: ECMAScript's shortest round-trip digits of a double (Ryū, on the stack), and
//! whether a number's literal is exactly its double, without writing out the double's expansion.

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
pub(super) fn literal_is_exact(literal: &str, value: f64) -> bool {
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
