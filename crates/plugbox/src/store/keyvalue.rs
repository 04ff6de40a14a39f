//! `wasi:keyvalue` (`store`, `atomics`, `batch`; the 0.2.0 draft Wasmtime
//! 48 ships, `wit/keyvalue/`) on the plugin's own key-value store, so that
//! components written for other hosts run unchanged. The bucket `""` (or
//! `"default"`) is the plugin's namespace; it is the same store the
//! `plugbox:plugin/kv` interface reaches.

use super::state::StoreState;
use super::world::guest_message;
use crate::error::{Error, KvErrorKind};
use wasmtime::component::Resource;

/// The generated bindings.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: { "wasi:keyvalue/store.bucket": super::Bucket },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// An open bucket: the plugin's namespace.
pub struct Bucket;

type KvResult<T> = wasmtime::Result<Result<T, store::Error>>;

impl StoreState {
    /// The store for a `wasi:keyvalue` call on `bucket` (which must be one
    /// this store handed out).
    fn bucket(&mut self, bucket: &Resource<Bucket>) -> wasmtime::Result<crate::kv::Kv> {
        self.wasi_table().get(bucket)?;
        Ok(self.call_kv())
    }

    fn wasi_table(&mut self) -> &mut wasmtime::component::ResourceTable {
        wasmtime_wasi::WasiView::ctx(self).table
    }

    fn to_wasi(&self, e: &Error) -> store::Error {
        let (kind, message) = guest_message(self.plugin_name(), e);
        let what = match kind {
            KvErrorKind::QuotaExceeded => "quota exceeded",
            KvErrorKind::Invalid => "invalid",
            KvErrorKind::OutcomeUnknown => "outcome unknown",
            _ => "unavailable",
        };
        store::Error::Other(format!("{what}: {message}"))
    }
}

impl store::Host for StoreState {
    async fn open(&mut self, identifier: String) -> KvResult<Resource<Bucket>> {
        if !(identifier.is_empty() || identifier == "default") {
            return Ok(Err(store::Error::NoSuchStore));
        }
        Ok(Ok(self.wasi_table().push(Bucket)?))
    }
}

impl store::HostBucket for StoreState {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<Option<Vec<u8>>> {
        let kv = self.bucket(&bucket)?;
        Ok(kv.get_async(&key).await.map_err(|e| self.to_wasi(&e)))
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> KvResult<()> {
        let kv = self.bucket(&bucket)?;
        Ok(kv
            .set_async(&key, value)
            .await
            .map_err(|e| self.to_wasi(&e)))
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<()> {
        let kv = self.bucket(&bucket)?;
        Ok(kv
            .delete_async(&key)
            .await
            .map(drop)
            .map_err(|e| self.to_wasi(&e)))
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<bool> {
        let kv = self.bucket(&bucket)?;
        Ok(kv.exists_async(&key).await.map_err(|e| self.to_wasi(&e)))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> KvResult<store::KeyResponse> {
        let kv = self.bucket(&bucket)?;
        let page = kv.list_keys_async(cursor, crate::kv::MAX_PAGE).await;
        Ok(page
            .map(|p| store::KeyResponse {
                keys: p.keys,
                cursor: p.cursor,
            })
            .map_err(|e| self.to_wasi(&e)))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.wasi_table().delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for StoreState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> KvResult<u64> {
        let kv = self.bucket(&bucket)?;
        let Ok(delta) = i64::try_from(delta) else {
            return Ok(Err(store::Error::Other(format!(
                "invalid: delta {delta} is more than the largest counter"
            ))));
        };
        Ok(match kv.increment_async(&key, delta).await {
            Ok(n) => u64::try_from(n).map_err(|_| {
                store::Error::Other(format!("invalid: the counter is negative ({n})"))
            }),
            Err(e) => Err(self.to_wasi(&e)),
        })
    }
}

impl batch::Host for StoreState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> KvResult<Vec<Option<(String, Vec<u8>)>>> {
        let kv = self.bucket(&bucket)?;
        Ok(match kv.get_many_async(&keys).await {
            Ok(values) => Ok(keys
                .into_iter()
                .zip(values)
                .map(|(k, v)| v.map(|v| (k, v)))
                .collect()),
            Err(e) => Err(self.to_wasi(&e)),
        })
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> KvResult<()> {
        let kv = self.bucket(&bucket)?;
        Ok(kv
            .set_many_async(key_values)
            .await
            .map_err(|e| self.to_wasi(&e)))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> KvResult<()> {
        let kv = self.bucket(&bucket)?;
        Ok(kv
            .delete_many_async(keys)
            .await
            .map(drop)
            .map_err(|e| self.to_wasi(&e)))
    }
}

/// Adds `wasi:keyvalue/{store, atomics, batch}` to a component linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<StoreState>,
) -> wasmtime::Result<()> {
    type Data = wasmtime::component::HasSelf<StoreState>;
    store::add_to_linker::<StoreState, Data>(linker, |s| s)?;
    atomics::add_to_linker::<StoreState, Data>(linker, |s| s)?;
    batch::add_to_linker::<StoreState, Data>(linker, |s| s)?;
    Ok(())
}
