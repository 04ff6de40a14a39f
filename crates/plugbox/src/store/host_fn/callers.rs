//! What a host function sees of the calling plugin: its name, its
//! configuration, its per-instance host state and (for modules) its memory.

use crate::error::BoxError;
use crate::store::state::StoreState;
use std::any::Any;
use wasmtime::Caller;

/// What a host function sees of the calling plugin.
pub struct HostCaller<'a> {
    pub(super) caller: Caller<'a, StoreState>,
}

impl HostCaller<'_> {
    /// The calling plugin's name.
    pub fn plugin(&self) -> &str {
        self.caller.data().plugin_name()
    }

    /// A configuration value given to the plugin (manifest `config`).
    pub fn config(&self, key: &str) -> Option<&str> {
        self.caller
            .data()
            .shared
            .config
            .get(key)
            .map(String::as_str)
    }

    /// The per-plugin host state, if it is a `T`. Each instance gets its
    /// own, made by [`HostFunctions::state`].
    pub fn state<T: Any>(&mut self) -> Option<&mut T> {
        self.caller
            .data_mut()
            .host
            .as_mut()
            .and_then(|s| s.downcast_mut::<T>())
    }

    fn memory(&mut self) -> Result<wasmtime::Memory, BoxError> {
        match self.caller.get_export("memory") {
            Some(wasmtime::Extern::Memory(m)) => Ok(m),
            _ => Err("the plugin exports no memory named `memory`".into()),
        }
    }

    /// Reads `len` bytes of the guest's `memory` export at `ptr`.
    ///
    /// # Errors
    ///
    /// When there is no such memory or the range is out of bounds.
    pub fn read_memory(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, BoxError> {
        let memory = self.memory()?;
        let mut buf = vec![0u8; len as usize];
        memory
            .read(&self.caller, ptr as usize, &mut buf)
            .map_err(|_| format!("guest memory range {ptr}+{len} is out of bounds"))?;
        Ok(buf)
    }

    /// Reads a UTF-8 string from guest memory.
    ///
    /// # Errors
    ///
    /// As [`read_memory`](Self::read_memory), or when the bytes are not UTF-8.
    pub fn read_string(&mut self, ptr: u32, len: u32) -> Result<String, BoxError> {
        String::from_utf8(self.read_memory(ptr, len)?)
            .map_err(|_| "guest string is not UTF-8".into())
    }

    /// Writes bytes into the guest's `memory` export at `ptr` (never grows
    /// it: the memory limit stays in force).
    ///
    /// # Errors
    ///
    /// When there is no such memory or the range is out of bounds.
    pub fn write_memory(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), BoxError> {
        let memory = self.memory()?;
        memory
            .write(&mut self.caller, ptr as usize, bytes)
            .map_err(|_| {
                format!("guest memory range {ptr}+{} is out of bounds", bytes.len()).into()
            })
    }
}

/// What a component host function sees of the calling plugin.
pub struct ComponentCaller<'a> {
    pub(super) state: &'a mut StoreState,
}

impl ComponentCaller<'_> {
    /// The calling plugin's name.
    pub fn plugin(&self) -> &str {
        self.state.plugin_name()
    }

    /// A configuration value given to the plugin (manifest `config`).
    pub fn config(&self, key: &str) -> Option<&str> {
        self.state.shared.config.get(key).map(String::as_str)
    }

    /// The per-instance host state, if it is a `T` (see
    /// [`HostFunctions::state`]).
    pub fn state<T: Any>(&mut self) -> Option<&mut T> {
        self.state.host.as_mut().and_then(|s| s.downcast_mut::<T>())
    }
}
