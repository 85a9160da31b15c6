//! Bearer tokens and their scopes.
//!
//! A token is a name (recorded as the actor of the registry changes made with it, and shown in
//! logs), a scope and a secret. Secrets are compared in constant time (for a given length) and
//! never appear in logs, errors or `Debug` output.

use std::fmt;

use mlstore_core::{Error, Result};

/// What a token may do. Each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every read: registry, predictions, monitoring, `/metrics`.
    Read,
    /// Reads, and every write but deletions: registering, aliases, predictions, labels,
    /// baselines.
    Write,
    /// Everything, deletions of model versions included.
    Admin,
}

impl Scope {
    /// `read`, `write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Parses `read`, `write` or `admin`.
    ///
    /// # Errors
    /// [`Error::Configuration`] for anything else.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(Error::configuration(format!(
                "unknown token scope {other:?}: use read, write or admin"
            ))),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One API token.
#[derive(Clone)]
pub struct Token {
    name: String,
    scope: Scope,
    secret: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The shortest secret accepted: 16 bytes.
pub const MIN_SECRET_BYTES: usize = 16;

impl Token {
    /// A token named `name` (the actor of its changes) with `scope` and `secret`.
    ///
    /// # Errors
    /// [`Error::Configuration`] for an empty name, a name or secret with whitespace, or a
    /// secret shorter than [`MIN_SECRET_BYTES`].
    pub fn new(name: impl Into<String>, scope: Scope, secret: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let secret = secret.into();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_whitespace) {
            return Err(Error::configuration(
                "a token name is 1 to 255 bytes without whitespace",
            ));
        }
        if secret.len() < MIN_SECRET_BYTES || secret.chars().any(char::is_whitespace) {
            return Err(Error::configuration(format!(
                "the secret of token {name:?} must be at least {MIN_SECRET_BYTES} bytes without \
                 whitespace"
            )));
        }
        Ok(Self {
            name,
            scope,
            secret,
        })
    }

    /// The token's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token's scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

/// The tokens a server accepts.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<Token>);

impl Tokens {
    /// No tokens: see [`crate::server::ServerConfig`] for when a server may run without.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses tokens, one per line or separated by `;`: `NAME SCOPE SECRET`, where SCOPE is
    /// `read`, `write` or `admin`. Blank lines and lines starting with `#` are skipped.
    ///
    /// ```
    /// use mlstore::server::{Scope, Tokens};
    /// let tokens = Tokens::parse("# ci\nreporter read r3ad-0nly-s3cret-1234\ndeployer admin 4dm1n-s3cret-5678-abcd").unwrap();
    /// assert_eq!(tokens.len(), 2);
    /// assert_eq!(tokens.authenticate("4dm1n-s3cret-5678-abcd").unwrap().scope(), Scope::Admin);
    /// assert!(tokens.authenticate("guess").is_none());
    /// ```
    ///
    /// # Errors
    /// [`Error::Configuration`] naming the line that is wrong (never its secret), or when two
    /// tokens share a name or a secret.
    pub fn parse(text: &str) -> Result<Self> {
        let mut tokens: Vec<Token> = Vec::new();
        for (i, line) in text.split(['\n', ';']).enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [name, scope, secret] = parts[..] else {
                return Err(Error::configuration(format!(
                    "token entry {}: expected `NAME SCOPE SECRET`, found {} words",
                    i + 1,
                    parts.len()
                )));
            };
            let token = Token::new(name, Scope::parse(scope)?, secret)
                .map_err(|e| Error::configuration(format!("token entry {}: {e}", i + 1)))?;
            if tokens.iter().any(|t| t.name == token.name) {
                return Err(Error::configuration(format!(
                    "token entry {}: the name {:?} is used twice",
                    i + 1,
                    token.name
                )));
            }
            if tokens.iter().any(|t| t.secret == token.secret) {
                return Err(Error::configuration(format!(
                    "token entry {}: its secret is the same as another token's",
                    i + 1
                )));
            }
            tokens.push(token);
        }
        Ok(Self(tokens))
    }

    /// Adds a token.
    pub fn push(&mut self, token: Token) {
        self.0.push(token);
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The token whose secret is `presented`, comparing with every token in constant time (for
    /// a given length), so the time taken does not tell how much of a guess was right.
    pub fn authenticate(&self, presented: &str) -> Option<&Token> {
        let mut found = None;
        for token in &self.0 {
            if constant_time_eq(token.secret.as_bytes(), presented.as_bytes()) {
                found = Some(token);
            }
        }
        found
    }
}

/// How a request presented its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    /// `Authorization: Bearer SECRET`.
    Bearer(String),
    /// HTTP Basic with the secret as the password (any user name): how a browser sends it to
    /// the dashboard. Browsers attach it by themselves, even to requests another site makes,
    /// so it is accepted for the dashboard's reads only.
    Basic(String),
}

/// The secret an `Authorization` header presents, and how.
pub(crate) fn presented_secret(header: &str) -> Option<Presented> {
    if let Some(secret) = header.strip_prefix("Bearer ") {
        return Some(Presented::Bearer(secret.trim().to_owned()));
    }
    let encoded = header.strip_prefix("Basic ")?.trim();
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(Presented::Basic(password.to_owned()))
}

/// Standard base64 with padding (RFC 4648), as HTTP Basic authentication uses it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, quad) in bytes.chunks(4).enumerate() {
        let last = i + 1 == bytes.len() / 4;
        let pad = quad.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for c in &quad[..4 - pad] {
            n = n << 6 | value(*c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

/// Compares two byte strings without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {

    #[test]
    fn secrets_come_from_bearer_or_basic_headers() {
        let basic = |s: &str| Some(Presented::Basic(s.to_owned()));
        assert_eq!(
            presented_secret("Bearer abc "),
            Some(Presented::Bearer("abc".to_owned()))
        );
        // base64("any:s3cret:with:colons")
        assert_eq!(
            presented_secret("Basic YW55OnMzY3JldDp3aXRoOmNvbG9ucw=="),
            basic("s3cret:with:colons")
        );
        // base64(":pw") and base64("u:pw1")
        assert_eq!(presented_secret("Basic OnB3"), basic("pw"));
        assert_eq!(presented_secret("Basic dTpwdzE="), basic("pw1"));
        assert_eq!(presented_secret("Basic bm9jb2xvbg=="), None);
        assert_eq!(presented_secret("Basic !!!!"), None);
        assert_eq!(presented_secret("Basic YQ=Y"), None);
        assert_eq!(presented_secret("Digest x"), None);
    }

    use super::*;

    #[test]
    fn parse_refuses_bad_entries_without_showing_secrets() {
        let err = Tokens::parse("a read short").unwrap_err().to_string();
        assert!(err.contains("at least 16 bytes"), "{err}");
        assert!(!err.contains("short"), "{err}");
        let err = Tokens::parse("a sudo 0123456789abcdef0").unwrap_err();
        assert!(err.to_string().contains("unknown token scope"), "{err}");
        let err = Tokens::parse("a read 0123456789abcdef0 extra").unwrap_err();
        assert!(err.to_string().contains("NAME SCOPE SECRET"), "{err}");
        let err = Tokens::parse("a read 0123456789abcdef0;a write 0123456789abcdef1").unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        let err = Tokens::parse("a read 0123456789abcdef0;b write 0123456789abcdef0").unwrap_err();
        assert!(!err.to_string().contains("0123456789abcdef0"), "{err}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let tokens = Tokens::parse("a read 0123456789abcdef0").unwrap();
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("0123456789abcdef0"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
