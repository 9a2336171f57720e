//! Sizes on the command line (`5MiB`, `8M`, `100KiB`, `1048576`) and in output.

/// Parses a size: plain bytes, or a number with a unit `K`, `M`, `G`, `T`, optionally followed
/// by `B` or `iB` (all binary: `8M` = `8MB` = `8MiB` = 8 × 2²⁰), case-insensitive. A fractional
/// number is allowed with a unit (`1.5GiB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("invalid size {s:?}: unknown unit {unit:?}")),
    };
    if number.is_empty() {
        return Err(format!("invalid size {s:?}"));
    }
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(1u64 << shift)
            .ok_or_else(|| format!("size {s:?} is too large"));
    }
    match number.parse::<f64>() {
        Ok(f) if shift > 0 && f.is_finite() && f >= 0.0 => {
            let bytes = f * (1u64 << shift) as f64;
            if bytes > u64::MAX as f64 {
                Err(format!("size {s:?} is too large"))
            } else {
                Ok(bytes.round() as u64)
            }
        }
        _ => Err(format!("invalid size {s:?}")),
    }
}

/// `1.5 MiB`, `12 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("5MiB").unwrap(), 5 << 20);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("8mb").unwrap(), 8 << 20);
        assert_eq!(parse_size("100KiB").unwrap(), 100 << 10);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5K").unwrap(), 1536);
        assert_eq!(parse_size("12B").unwrap(), 12);
        for bad in ["", "MiB", "5XB", "-1", "1.5", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
    }
}
