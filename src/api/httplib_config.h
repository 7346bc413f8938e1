// api/httplib_config.h — the one way Pulse includes cpp-httplib.
//
// Debian's libcpp-httplib (0.11.4) is a compiled library built with OpenSSL, zlib and Brotli
// support (see `pkg-config --cflags cpp-httplib`). Those macros change the layout of httplib's
// classes (Request, ClientImpl, ...), so every translation unit must see the same definitions as
// the library or objects are built with the wrong size. Include this header, never <httplib.h>.
#pragma once

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif

#include <httplib.h>  // IWYU pragma: export
