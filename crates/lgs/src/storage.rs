//! Object storage: `s3://` (Amazon S3 and S3-compatible servers) and `az://` (Azure
//! Blob Storage) locations, for inputs and for the warehouse itself.
//!
//! Stores are built with the `object_store` crate that DataFusion and Delta Lake use,
//! configured from the environment the way those tools are:
//!
//! - S3: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`
//!   (for an S3-compatible server), `AWS_ALLOW_HTTP`, and the other `AWS_*` keys of
//!   `object_store`.
//! - Azure: `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY` (or SAS, service
//!   principal, managed identity), `AZURE_STORAGE_USE_EMULATOR` with
//!   `AZURITE_BLOB_STORAGE_URL` for Azurite.
//!
//! Delta commits on object storage are made safe against concurrent writers with a
//! conditional put (create the commit file only if it does not exist): Azure supports
//! it natively, S3 through `If-None-Match` (`AWS_CONDITIONAL_PUT=etag`, set by
//! default here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once, OnceLock};

use deltalake::DeltaResult;
use deltalake::logstore::object_store::path::Path as StorePath;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use url::Url;

use crate::error::{LgsError, Result};

const S3_SCHEMES: [&str; 2] = ["s3", "s3a"];
const AZURE_SCHEMES: [&str; 5] = ["az", "azure", "abfs", "abfss", "adl"];

/// Whether `location` names an object-store location lgs can reach.
pub fn is_remote(location: &str) -> bool {
    location
        .split_once("://")
        .is_some_and(|(scheme, _)| S3_SCHEMES.contains(&scheme) || AZURE_SCHEMES.contains(&scheme))
}

/// Parses an object-store location (`s3://bucket/prefix`, `az://container/prefix`).
pub fn parse(location: &str) -> Result<Url> {
    let url = Url::parse(location).map_err(|e| LgsError::InvalidArgument {
        what: "object-store location",
        message: format!("{location}: {e}"),
    })?;
    if url.host_str().unwrap_or("").is_empty() {
        return Err(LgsError::InvalidArgument {
            what: "object-store location",
            message: format!("{location}: name the bucket or container, as in s3://bucket/path"),
        });
    }
    Ok(url)
}

/// The store holding `url`'s bucket or container (built once per bucket and shared),
/// and the path of `url` inside it.
pub fn store_for(url: &Url) -> Result<(Arc<dyn ObjectStore>, StorePath)> {
    register_delta_handlers();
    let store = bucket_store(url, &HashMap::new()).map_err(|e| error(url.as_str(), e))?;
    Ok((store, path_in_store(url)?))
}

/// The path of `url` inside its bucket.
pub fn path_in_store(url: &Url) -> Result<StorePath> {
    StorePath::from_url_path(url.path()).map_err(|e| LgsError::InvalidArgument {
        what: "object-store location",
        message: format!("{url}: {e}"),
    })
}

/// `scheme://bucket`: the key a store is registered under in DataFusion.
pub fn bucket_url(url: &Url) -> Url {
    let mut root = url.clone();
    root.set_path("");
    root.set_query(None);
    root.set_fragment(None);
    root
}

/// Turns an object-store failure into an error that says what to check. Stores
/// report some refusals as generic HTTP errors: those are recognised by status.
pub fn error(location: &str, e: object_store::Error) -> LgsError {
    let text = e.to_string();
    let code = xml_code(&text);
    let refused = ["403 Forbidden", "401 Unauthorized"]
        .iter()
        .find(|status| text.contains(*status));
    let message = match (&e, refused) {
        (object_store::Error::NotFound { .. }, _) => "does not exist".to_string(),
        (
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. },
            _,
        )
        | (_, Some(_)) => format!(
            "not permitted ({}): check the credentials in the AWS_* or AZURE_* environment \
             variables",
            code.or(refused.copied()).unwrap_or("refused")
        ),
        _ if text.contains("404 Not Found") => match code {
            Some(code) => format!("does not exist ({code})"),
            None => "does not exist".to_string(),
        },
        _ => text,
    };
    LgsError::ObjectStore {
        location: location.to_string(),
        message,
    }
}

/// The `<Code>` of an S3 or Azure XML error body, if the message carries one.
fn xml_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

/// Builds (or reuses) the store of a bucket or container, configured from the
/// environment and then from `options`.
fn bucket_store(
    url: &Url,
    options: &HashMap<String, String>,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let key = bucket_url(url).to_string();
    let cache = CACHE.get_or_init(Default::default);
    if options.is_empty()
        && let Some(store) = cache.lock().expect("store cache").get(&key)
    {
        return Ok(store.clone());
    }
    let scheme = url.scheme();
    let store: Arc<dyn ObjectStore> = if S3_SCHEMES.contains(&scheme) {
        let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
        if std::env::var_os("AWS_CONDITIONAL_PUT").is_none() {
            builder = builder.with_config(AmazonS3ConfigKey::ConditionalPut, "etag");
        }
        for (k, v) in options {
            if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, v);
            }
        }
        Arc::new(builder.build()?)
    } else if AZURE_SCHEMES.contains(&scheme) {
        let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
        for (k, v) in options {
            if let Ok(key) = k.to_ascii_lowercase().parse::<AzureConfigKey>() {
                builder = builder.with_config(key, v);
            }
        }
        Arc::new(builder.build()?)
    } else {
        return Err(object_store::Error::Generic {
            store: "lgs",
            source: format!("unsupported scheme {scheme}:// (use s3:// or az://)").into(),
        });
    };
    if options.is_empty() {
        cache
            .lock()
            .expect("store cache")
            .insert(key, store.clone());
    }
    Ok(store)
}

/// Teaches Delta Lake the `s3://` and `az://` schemes, with the stores above and the
/// default log store (commits by conditional put). Idempotent.
pub fn register_delta_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in S3_SCHEMES.iter().chain(AZURE_SCHEMES.iter()) {
            let url = Url::parse(&format!("{scheme}://")).expect("a scheme URL");
            object_store_factories().insert(url.clone(), Arc::new(StoreFactory));
            logstore_factories().insert(url, Arc::new(LogFactory));
        }
    });
}

struct StoreFactory;

impl ObjectStoreFactory for StoreFactory {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, StorePath)> {
        let store = bucket_store(url, &config.raw)?;
        let path = StorePath::from_url_path(url.path())?;
        Ok((store, path))
    }
}

struct LogFactory;

impl LogStoreFactory for LogFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}
