/*
 * fuzz_config.c - the configuration file reader (sessd_config_load_file, then
 * sessd_config_finish), fed through a memfd so that the real file path is used. Properties: a
 * refused file leaves an error message and the configuration untouched; an accepted one passes
 * finish or is refused by it with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "core/config.h"

static sessd_config *cfg, *dflt;
static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cfg = malloc(sizeof *cfg);
    dflt = malloc(sizeof *dflt);
    FUZZ_REQUIRE(cfg != NULL && dflt != NULL);
    sessd_config_defaults(dflt);
    fd = memfd_create("fuzz-config", 0);
    FUZZ_REQUIRE(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    FUZZ_REQUIRE(ftruncate(fd, 0) == 0);
    FUZZ_REQUIRE(pwrite(fd, data, size, 0) == (ssize_t)size);
    memcpy(cfg, dflt, sizeof *cfg);
    if (sessd_config_load_file(cfg, path, err, sizeof err) != 0) {
        FUZZ_REQUIRE(err[0] != '\0');
        FUZZ_REQUIRE(memcmp(cfg, dflt, sizeof *cfg) == 0);
        return 0;
    }
    FUZZ_REQUIRE(strcmp(cfg->file, path) == 0);
    err[0] = '\0';
    if (sessd_config_finish(cfg, err, sizeof err) != 0)
        FUZZ_REQUIRE(err[0] != '\0');
    return 0;
}
