//! The bearer token of `POST /reconcile`, read once at start from `[http] reconcile_token_file`.

use super::{reload, DaemonError};

/// The longest bearer token file read (a token is one line).
const MAX_TOKEN_BYTES: u64 = 4096;

/// The bearer token of `POST /reconcile`, from `[http] reconcile_token_file`.
pub(super) async fn read_token(path: &std::path::Path) -> Result<String, DaemonError> {
    let p = path.to_path_buf();
    let invalid = |reason: String| DaemonError::Token {
        path: path.to_path_buf(),
        reason,
    };
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        if !std::fs::metadata(&p)?.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&p)?
            .take(MAX_TOKEN_BYTES + 1)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    let bytes = match tokio::time::timeout(reload::READ_TIMEOUT, read).await {
        Ok(Ok(Ok(b))) => b,
        Ok(Ok(Err(e))) => return Err(invalid(e.to_string())),
        Ok(Err(e)) => return Err(invalid(e.to_string())),
        Err(_) => return Err(invalid("reading it took too long".into())),
    };
    if bytes.len() as u64 > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "it is larger than {MAX_TOKEN_BYTES} bytes; it should hold one line, the token"
        )));
    }
    let token = String::from_utf8(bytes)
        .map_err(|_| invalid("it is not UTF-8 text".into()))?
        .trim()
        .to_string();
    if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "the token must be one word of at least 16 characters (e.g. the output of `openssl rand -hex 32`)".into(),
        ));
    }
    Ok(token)
}
