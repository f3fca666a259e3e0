/* The one version string both binaries and spokectl report. */
#ifndef SPOKE_VERSION_H
#define SPOKE_VERSION_H

#define SPOKE_VERSION "0.1.0"

#endif
