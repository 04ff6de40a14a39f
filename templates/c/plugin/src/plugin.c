/*
 * {{name}}: a plugbox plugin in C. `handle("world")` returns "hello, world";
 * the greeting comes from the host's `greeting` config value when set.
 *
 * The `plugin_*` and `plugbox_plugin_*` names come from the bindings that
 * `wit-bindgen c` generates from wit/plugin.wit into gen/ (`make` does it).
 * Strings are UTF-8 with a pointer and a length, not NUL-terminated. The
 * plugin owns `input` and frees it; the string it returns in `ret` or `err`
 * must come from malloc: the bindings free it once the host has copied it.
 *
 * The plugin world has no stdout: log with plugbox_plugin_log_log. (stdio
 * would make the module import WASI, which needs an adapter to become a
 * component; see the README.)
 */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* `out` = a + b, allocated with malloc. */
static void concat(plugin_string_t *out, const uint8_t *a, size_t a_len, const uint8_t *b,
                   size_t b_len) {
    out->len = a_len + b_len;
    out->ptr = malloc(out->len > 0 ? out->len : 1);
    if (out->ptr == NULL) {
        abort();
    }
    memcpy(out->ptr, a, a_len);
    memcpy(out->ptr + a_len, b, b_len);
}

static void log_info(const uint8_t *prefix, size_t prefix_len, const plugin_string_t *text) {
    plugin_string_t message;
    concat(&message, prefix, prefix_len, text->ptr, text->len);
    plugbox_plugin_log_log(PLUGBOX_PLUGIN_LOG_LEVEL_INFO, &message);
    plugin_string_free(&message);
}

bool exports_plugin_handle(plugin_string_t *input, plugin_string_t *ret, plugin_string_t *err) {
    if (input->len == 0) {
        plugin_string_free(input);
        plugin_string_dup(err, "nobody to greet");
        return false;
    }

    plugin_string_t key;
    plugin_string_set(&key, "greeting");
    plugin_string_t greeting;
    bool configured = plugbox_plugin_config_get(&key, &greeting);
    if (!configured) {
        plugin_string_set(&greeting, "hello");
    }

    /* "<greeting>, <input>" */
    plugin_string_t head;
    concat(&head, greeting.ptr, greeting.len, (const uint8_t *)", ", 2);
    concat(ret, head.ptr, head.len, input->ptr, input->len);
    plugin_string_free(&head);

    log_info((const uint8_t *)"greeting ", strlen("greeting "), input);

    if (configured) {
        plugin_string_free(&greeting);
    }
    plugin_string_free(input);
    return true;
}
