/*
 * A plugbox:plugin component written in plain C, to show the plugin world
 * (crates/plugbox/wit/plugin.wit) is language-neutral.
 *
 * It implements `handle: func(input: string) -> result<string, string>`
 * with the component model's canonical ABI written out by hand (no libc,
 * no generated bindings): it reads the `greeting` config value, logs, and
 * returns "<greeting>, <input>" — or an error for empty input.
 *
 * Build (the tests do this): clang-19 --target=wasm32 -nostdlib -O2
 *   -Wl,--no-entry -o greeter_c.core.wasm greeter.c
 * then turn the core module into a component with the plugin world's WIT
 * embedded (wit-component; `wasm-tools component embed` + `component new`
 * do the same).
 */
#include <stddef.h>
#include <stdint.h>

extern unsigned char __heap_base;
static uintptr_t heap_top;

/* The allocator the host uses to pass strings in. Bump allocation: every
 * call runs in a fresh instance, so nothing needs freeing. */
__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
    if (heap_top == 0) {
        heap_top = (uintptr_t)&__heap_base;
    }
    uintptr_t p = (heap_top + align - 1) & ~(uintptr_t)(align - 1);
    uintptr_t end = p + new_size;
    size_t pages = (end + 65535) / 65536;
    size_t have = __builtin_wasm_memory_size(0);
    if (pages > have && __builtin_wasm_memory_grow(0, pages - have) == (size_t)-1) {
        __builtin_trap();
    }
    heap_top = end;
    unsigned char *dst = (unsigned char *)p;
    const unsigned char *src = old;
    for (size_t i = 0; old && i < old_size && i < new_size; i++) {
        dst[i] = src[i];
    }
    return dst;
}

/* plugbox:plugin/log.log(level: level, message: string) */
__attribute__((import_module("plugbox:plugin/log@0.1.0"), import_name("log")))
extern void host_log(int32_t level, const char *ptr, size_t len);

/* plugbox:plugin/config.get(key: string) -> option<string>: the result is
 * written to `ret`: a tag byte at 0, then pointer and length at 4 and 8. */
__attribute__((import_module("plugbox:plugin/config@0.1.0"), import_name("get")))
extern void host_config_get(const char *key, size_t len, uint32_t *ret);

enum { LEVEL_INFO = 2 };

static void copy(char *dst, const char *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

/* result<string, string> is returned through this area: tag at 0,
 * string pointer at 4, length at 8. */
static uint32_t ret_area[3];

static uint32_t *reply(uint32_t tag, const char *text, size_t len) {
    char *out = cabi_realloc(0, 0, 1, len);
    copy(out, text, len);
    ret_area[0] = tag;
    ret_area[1] = (uint32_t)(uintptr_t)out;
    ret_area[2] = (uint32_t)len;
    return ret_area;
}

__attribute__((export_name("handle")))
uint32_t *handle(const char *input, size_t len) {
    if (len == 0) {
        static const char err[] = "nobody to greet (from C)";
        return reply(1, err, sizeof err - 1);
    }
    uint32_t option[3] = {0, 0, 0};
    host_config_get("greeting", 8, option);
    const char *greeting = "hello";
    size_t greeting_len = 5;
    if ((option[0] & 0xff) == 1) {
        greeting = (const char *)(uintptr_t)option[1];
        greeting_len = option[2];
    }
    static const char msg[] = "greeting from C";
    host_log(LEVEL_INFO, msg, sizeof msg - 1);
    size_t total = greeting_len + 2 + len;
    char *out = cabi_realloc(0, 0, 1, total);
    copy(out, greeting, greeting_len);
    out[greeting_len] = ',';
    out[greeting_len + 1] = ' ';
    copy(out + greeting_len + 2, input, len);
    ret_area[0] = 0;
    ret_area[1] = (uint32_t)(uintptr_t)out;
    ret_area[2] = (uint32_t)total;
    return ret_area;
}
