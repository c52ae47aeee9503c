//! Results home for distributed runs: a shard uploads its run directory to
//! `s3://bucket/prefix/<run-id>/` (at the end, and every few seconds while it runs, so a
//! killed pod loses little), and `merge s3://bucket/prefix/` downloads every shard's run
//! directory under the prefix. Through the official `aws-sdk-s3` with the collector's
//! credential chain, timeouts and endpoint override (`AWS_ENDPOINT_URL`: path-style
//! addressing then, as local S3 servers need).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;

use crate::TelemetryError;
use crate::aws::AwsOptions;

/// `s3://bucket/prefix/`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket.
    pub bucket: String,
    /// Key prefix, empty or ending with `/`.
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix[/]]`.
    ///
    /// # Errors
    /// Not an `s3://` URL, or no bucket.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{text:?}: not an s3:// URL (s3://bucket/prefix/)"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{text:?}: no bucket (s3://bucket/prefix/)"));
        }
        let mut prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
        })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// An S3 client for `opts`.
pub async fn client(opts: &AwsOptions) -> Result<aws_sdk_s3::Client, TelemetryError> {
    let sdk = crate::aws::sdk_config(opts).await?;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        // Local S3 servers (moto, MinIO) answer on one host name, not bucket subdomains.
        .force_path_style(opts.endpoint_url.is_some() || sdk.endpoint_url().is_some())
        .build();
    Ok(aws_sdk_s3::Client::from_conf(config))
}

fn s3_error(what: &str, e: impl std::fmt::Display) -> TelemetryError {
    TelemetryError::Usage(format!("S3 {what}: {e}"))
}

/// Uploads `dir` to `url` + `<dir name>/`, skipping files whose size is what `sent` says
/// was uploaded last time (pass the same map on every call while the run grows).
///
/// # Errors
/// A file cannot be read, or S3 refuses a put (the error names the key).
pub async fn upload_dir<S: std::hash::BuildHasher>(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    dir: &Path,
    sent: &mut HashMap<PathBuf, u64, S>,
) -> Result<usize, TelemetryError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| TelemetryError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut uploaded = 0;
    for path in files {
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        if sent.get(&path) == Some(&len) {
            continue;
        }
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let key = format!(
            "{}{name}/{}",
            url.prefix,
            rel.to_string_lossy().replace('\\', "/")
        );
        let body = std::fs::read(&path).map_err(|e| TelemetryError::Io {
            path: path.clone(),
            source: e,
        })?;
        client
            .put_object()
            .bucket(&url.bucket)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    &format!("PutObject s3://{}/{key}", url.bucket),
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
        sent.insert(path, len);
        uploaded += 1;
    }
    Ok(uploaded)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_none_or(|x| x != "tmp") {
            out.push(p);
        }
    }
    Ok(())
}

/// Downloads every object under `url` into `into`, keeping the key's path below the prefix
/// (`<run-id>/manifest.json`...). Returns the files written.
///
/// # Errors
/// S3 refuses a list or get, a key would leave `into`, or a file cannot be written.
pub async fn download_prefix(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    into: &Path,
) -> Result<usize, TelemetryError> {
    let mut token: Option<String> = None;
    let mut written = 0;
    for _ in 0..100_000 {
        let page = client
            .list_objects_v2()
            .bucket(&url.bucket)
            .prefix(&url.prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    &format!("ListObjectsV2 {url}"),
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let rel = key.strip_prefix(url.prefix.as_str()).unwrap_or(key);
            // A key is a path under `into`, never above it.
            if rel.is_empty()
                || rel.ends_with('/')
                || rel
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
            {
                continue;
            }
            let got = client
                .get_object()
                .bucket(&url.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        &format!("GetObject s3://{}/{key}", url.bucket),
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            let bytes = got
                .body
                .collect()
                .await
                .map_err(|e| s3_error(&format!("reading s3://{}/{key}", url.bucket), e))?
                .into_bytes();
            let path = into.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| TelemetryError::Io {
                    path: parent.to_path_buf(),
                    source: e,
                })?;
            }
            std::fs::write(&path, &bytes).map_err(|e| TelemetryError::Io {
                path: path.clone(),
                source: e,
            })?;
            written += 1;
        }
        token = page
            .next_continuation_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_to_bucket_and_prefix() {
        let u = S3Url::parse("s3://results/load/checkout").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.prefix.as_str()),
            ("results", "load/checkout/")
        );
        assert_eq!(S3Url::parse("s3://results").unwrap().prefix, "");
        assert_eq!(
            S3Url::parse("s3://results/a/").unwrap().to_string(),
            "s3://results/a/"
        );
        assert!(S3Url::parse("https://x").unwrap_err().contains("s3://"));
        assert!(S3Url::parse("s3:///a").unwrap_err().contains("no bucket"));
    }
}
