//! Hiding passwords in connection URLs before they reach an error, a log line or `Debug` output.

/// Replaces the password of a URL (`scheme://user:password@host/...`) and the value of any
/// `password=` query parameter with `***`. Anything else is returned unchanged.
///
/// ```
/// use mlstore_core::redact_url;
/// assert_eq!(
///     redact_url("postgres://app:s3cret@db:5432/ml?sslmode=require"),
///     "postgres://app:***@db:5432/ml?sslmode=require"
/// );
/// assert_eq!(redact_url("redis://:pw@cache:6379/0"), "redis://:***@cache:6379/0");
/// assert_eq!(redact_url("sqlite://./mlstore.db"), "sqlite://./mlstore.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let after = match url.find("://") {
        Some(i) => {
            out.push_str(&url[..i + 3]);
            &url[i + 3..]
        }
        None => url,
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    // Query parameters such as `?password=...` (libpq style).
    let mut first = true;
    for (i, part) in rest.split('&').enumerate() {
        if !first {
            out.push('&');
        }
        first = false;
        let key_start = if i == 0 {
            part.rfind('?').map_or(0, |q| q + 1)
        } else {
            0
        };
        let (head, kv) = part.split_at(key_start);
        out.push_str(head);
        match kv.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(kv),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn table() {
        let cases = [
            ("postgres://u:p@h/db", "postgres://u:***@h/db"),
            ("postgresql://u:p%40ss@h:1/db", "postgresql://u:***@h:1/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://u:p@h", "postgres://u:***@h"),
            (
                "postgres://h/db?user=u&password=p&x=1",
                "postgres://h/db?user=u&password=***&x=1",
            ),
            ("postgres://h/db?password=p", "postgres://h/db?password=***"),
            ("moka+redis://:pw@h:6379/0", "moka+redis://:***@h:6379/0"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("u:p@weird", "u:***@weird"),
            ("postgres://u:p:q@h/x@y", "postgres://u:***@h/x@y"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
            assert!(!redact_url(input).contains(":p@"), "{input}");
        }
    }
}
