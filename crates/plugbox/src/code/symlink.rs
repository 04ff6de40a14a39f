//! Symlinks a guest creates stay inside its grants. WASI's own checks stop
//! a guest from *following* a link out of a preopened directory, but not
//! from *creating* one (`ln -s /etc/passwd x`, `ln -s ../../.. x`) that
//! the host's other programs — a backup, a web server, the operator's
//! shell — would follow later. plugbox refuses link targets that are
//! absolute or contain a `..` component: a relative target without `..`
//! resolves below the link's own directory, inside the grant.
//!
//! Both WASI flavours are covered by shadowing their `symlink` function
//! with a check that delegates to Wasmtime's implementation.

use crate::store::StoreState;
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{ErrorCode, Host, HostDescriptor};

/// WASI preview 1's `notcapable`.
const ERRNO_NOTCAPABLE: i32 = 76;
const P1: &str = "wasi_snapshot_preview1";
/// The interface `wasmtime_wasi::p2::add_to_linker_async` defines.
const P2_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Whether a link to `target` could point outside the link's grant.
pub(crate) fn escapes(target: &str) -> bool {
    target.starts_with('/') || target.split('/').any(|part| part == "..")
}

/// Shadows preview 1's `path_symlink` (after WASI was added to `linker`):
/// the same glue Wasmtime generates, with the check before it.
pub(crate) fn guard_p1(linker: &mut wasmtime::Linker<StoreState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p1::wasi_snapshot_preview1::{WasiSnapshotPreview1, path_symlink};
    linker.allow_shadowing(true).func_wrap_async(
        P1,
        "path_symlink",
        move |mut caller: wasmtime::Caller<'_, StoreState>,
              (target, target_len, fd, link, link_len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let Some(wasmtime::Extern::Memory(memory)) = caller.get_export("memory") else {
                    return Err(wasmtime::Error::msg("missing required memory export"));
                };
                if read_str(&memory, &caller, target, target_len).is_some_and(|t| escapes(&t)) {
                    return Ok(ERRNO_NOTCAPABLE);
                }
                let fuel = wasmtime::AsContextMut::as_context_mut(&mut caller).hostcall_fuel();
                let (mem, state) = memory.data_and_store_mut(&mut caller);
                let ctx = state.wasi_p1();
                ctx.set_hostcall_fuel(fuel);
                let mut mem = wiggle::GuestMemory::Unshared(mem);
                path_symlink(ctx, &mut mem, target, target_len, fd, link, link_len).await
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The guest's string at `ptr..ptr + len`, if it is in its memory and
/// UTF-8 (otherwise Wasmtime's implementation reports the error).
fn read_str(
    memory: &wasmtime::Memory,
    caller: &wasmtime::Caller<'_, StoreState>,
    ptr: i32,
    len: i32,
) -> Option<String> {
    let start = ptr as u32 as usize;
    let bytes = memory
        .data(caller)
        .get(start..start.checked_add(len as u32 as usize)?)?;
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// Shadows preview 2's `descriptor.symlink-at` (after WASI was added).
pub(crate) fn guard_p2(
    linker: &mut wasmtime::component::Linker<StoreState>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(P2_TYPES)?.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store: wasmtime::StoreContextMut<'_, StoreState>,
         (fd, target, link): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                if escapes(&target) {
                    return Ok((Err(ErrorCode::NotPermitted),));
                }
                let mut view = store.data_mut().filesystem();
                Ok((
                    match HostDescriptor::symlink_at(&mut view, fd, target, link).await {
                        Ok(()) => Ok(()),
                        Err(e) => Err(Host::convert_error_code(&mut view, e)?),
                    },
                ))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::escapes;

    #[test]
    fn targets_that_could_leave_the_grant() {
        for t in ["/etc/passwd", "..", "../x", "a/../../b", "a/..", "/"] {
            assert!(escapes(t), "{t}");
        }
        for t in ["x", "a/b", "./a", "a..b", "..a", "a/...", ""] {
            assert!(!escapes(t), "{t}");
        }
    }
}
