/* devices.h: what the encoder and the top-k share about devices (devices.c); the lists themselves are
 * userec_devices in userec.h. */
#ifndef USEREC_DEVICES_H
#define USEREC_DEVICES_H

#include <stdio.h>

#include "userec.h"

/* No usable GPU for `what` (the device as asked: "cuda", "cuda:1", "cuda:all"), for the reason in `why`: an
 * error for a device asked for by name; for auto, a note on `notes` (may be NULL) and USEREC_OK (the CPU). */
userec_status device_unusable(userec_device asked, const char *what, const userec_error *why, FILE *notes,
                              userec_error *err);

#endif
