/* provenance.c: reading the provenance record of a .usew file. */
#include <stdint.h>

#include "common/grow.h"
#include "input/json_scan.h"
#include "model/provenance.h"

int usew_is_test_weights(const usew_file *f) {
    const usew_tensor *prov = usew_find(f, "meta.provenance");
    if (!prov) return 0;
    const char *keys[] = {"test_weights"};
    size_t at = SIZE_MAX;
    byte_buf scratch = {0};
    char why[160];
    const uint8_t *text = prov->data;
    const int valid = !json_scan_object(text, prov->nbytes, keys, 1, &at, &scratch, why, sizeof why);
    free(scratch.data);
    /* present and neither false nor null: the converter writes the marker object */
    return valid && at != SIZE_MAX && text[at] != 'f' && text[at] != 'n';
}
