/*
 * {{name}}: a WASI command in C. `{{name}} world` prints "hello, world";
 * with no argument it reads a name from stdin. Build with `make`, run with
 * `plugbox run {{name}}.wasm world`.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    char name[256] = "";
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            if (i > 1) {
                strncat(name, " ", sizeof name - strlen(name) - 1);
            }
            strncat(name, argv[i], sizeof name - strlen(name) - 1);
        }
    } else if (fgets(name, sizeof name, stdin) != NULL) {
        name[strcspn(name, "\r\n")] = '\0';
    }
    if (name[0] == '\0') {
        fprintf(stderr, "nobody to greet\n");
        return 1;
    }
    printf("hello, %s\n", name);
    return 0;
}
