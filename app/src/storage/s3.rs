//! Images as objects in one S3 bucket, under a key prefix (a stack's CDN serves
//! `/media/*` from `media/`, and its instance role may write nowhere else). Uploads of a
//! resume run in parallel; if any fails, the ones that succeeded are deleted so no orphan
//! stays behind.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::future::join_all;

use super::{ImageStore, NewObject, StoreError, StoredObject};

pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    /// `force_path_style` addresses the bucket as `endpoint/bucket/key`; S3 accepts it,
    /// and endpoints without wildcard DNS (a local emulator, some VPC endpoints) need it.
    pub async fn connect(bucket: &str, prefix: &str, force_path_style: bool) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(https_client())
            .load()
            .await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(force_path_style)
            .build();
        S3Store {
            client: Client::from_conf(config),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    /// The object key of a stored image's key.
    fn object(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn put(&self, obj: &NewObject) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object(&obj.key))
            .content_type(obj.content_type)
            .body(ByteStream::from(obj.bytes.clone()))
            .send()
            .await
            .map_err(|e| StoreError::new("uploading", &obj.key, sdk_message(&e)))?;
        Ok(())
    }
}

fn sdk_message<E>(err: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}

#[async_trait::async_trait]
impl ImageStore for S3Store {
    async fn put_all(&self, objects: &[NewObject]) -> Result<(), StoreError> {
        let results = join_all(objects.iter().map(|o| self.put(o))).await;
        let Some(first_err) = results.iter().position(Result::is_err) else {
            return Ok(());
        };
        let stored: Vec<String> = objects
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(o, _)| o.key.clone())
            .collect();
        self.delete_all(&stored).await;
        let mut results = results;
        Err(results.swap_remove(first_err).unwrap_err())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .send()
            .await
            .map_err(|e| StoreError::new("deleting", key, sdk_message(&e)))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(StoreError::new("reading", key, sdk_message(&e))),
        };
        let content_type = out
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes: Bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::new("reading", key, e))?
            .into_bytes();
        Ok(Some(StoredObject {
            content_type,
            bytes,
        }))
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| StoreError::new("checking bucket", &self.bucket, sdk_message(&e)))?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("s3:{}/{}", self.bucket, self.prefix)
    }
}

/// The SDK's HTTPS client on rustls with ring, the TLS the service's other connections
/// (PostgreSQL, Redis) use too: the SDK's default would build aws-lc, a second C library.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
