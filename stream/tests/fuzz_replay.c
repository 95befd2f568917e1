/*
 * fuzz_replay.c - runs a fuzz corpus through LLVMFuzzerTestOneInput without
 * libFuzzer, so the corpus and its regressions are a plain ctest (and run
 * under ASan/UBSan in the sanitizer build, or valgrind).
 *
 * Usage: fuzz_replay PATH...
 * Each PATH is an input file or a directory, read recursively in name
 * order as libFuzzer does; hidden entries are skipped. Every input is copied
 * into a buffer of its exact size so over-reads are caught. A broken
 * invariant aborts inside the target. Exits 0 when every input passed, 1 when
 * a path cannot be read or no input was found, 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t inputs;

/* Feeds one file to the target. Returns 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    int rc = -1;

    if (f == NULL) {
        fprintf(stderr, "fuzz_replay: could not open \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fuzz_replay: could not read \"%s\": %s\n", path, strerror(errno));
        goto out;
    }
    data = malloc(size > 0 ? (size_t)size : 1);
    if (data == NULL) {
        fprintf(stderr, "fuzz_replay: out of memory for \"%s\" (%ld bytes)\n", path, size);
        goto out;
    }
    if (size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "fuzz_replay: could not read \"%s\"\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(data, (size_t)size);
    inputs++;
    rc = 0;
out:
    free(data);
    fclose(f);
    return rc;
}

static int replay_path(const char *path);

/* Replays a directory's entries in name order. */
static int replay_dir(const char *path)
{
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    int rc = 0;

    if (n < 0) {
        fprintf(stderr, "fuzz_replay: could not list \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (rc == 0 && names[i]->d_name[0] != '.') {
            size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
            char *child = malloc(len);
            if (child == NULL) {
                fprintf(stderr, "fuzz_replay: out of memory\n");
                rc = -1;
            } else {
                snprintf(child, len, "%s/%s", path, names[i]->d_name);
                rc = replay_path(child);
                free(child);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int replay_path(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_replay: could not stat \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    return S_ISDIR(st.st_mode) ? replay_dir(path) : replay_file(path);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "fuzz_replay runs fuzz corpus files through the fuzz target.\n\n"
                "Usage:\n  fuzz_replay PATH...   input files or directories (recursive)\n");
        return argc < 2 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i]) != 0)
            return 1;
    if (inputs == 0) {
        fprintf(stderr, "fuzz_replay: no inputs found in the paths given\n");
        return 1;
    }
    printf("fuzz_replay: %zu inputs passed\n", inputs);
    return 0;
}
