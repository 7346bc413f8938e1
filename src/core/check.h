// core/check.h — invariants. Bad input is never an assertion: it is a Status.
//   PULSE_CHECK(cond)  always fatal: "cannot happen" after start-up.
//   PULSE_DCHECK(cond) fatal in debug builds only.
#pragma once

#include <cstdio>
#include <cstdlib>

#define PULSE_CHECK(cond)                                                                   \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "PULSE_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

#ifdef NDEBUG
#define PULSE_DCHECK(cond) \
  do {                     \
  } while (0)
#else
#define PULSE_DCHECK(cond) PULSE_CHECK(cond)
#endif
