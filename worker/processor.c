/* processor.c — shared helpers of the record-processor interface. */
#include "worker/processor.h"

#include <stdlib.h>

const char *ckpt_result_name(enum ckpt_result r)
{
    switch (r) {
    case CKPT_OK: return NULL;
    case CKPT_INVALID_STATE: return "InvalidStateException";
    case CKPT_SHUTDOWN: return "ShutdownException";
    case CKPT_THROTTLING: return "ThrottlingException";
    case CKPT_DEPENDENCY: return "KinesisClientLibDependencyException";
    case CKPT_ILLEGAL_ARGUMENT: return "IllegalArgumentException";
    }
    return "KinesisClientLibException";
}

void processor_free(struct processor *p)
{
    if (p && p->ops && p->ops->destroy) p->ops->destroy(p);
}
