/* stub: replaced by the hook engine */
#include "edge/hooks.h"

void hooks_reconfigure(struct worker *w)
{
    (void)w;
}
