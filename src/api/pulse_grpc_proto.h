// api/pulse_grpc_proto.h — includes the generated pulse.v1 messages and services.
// The build generates them under generated/proto/pulse/v1/ today; the contract names them
// "pulse/v1/...". Accept either so a later fix of the generator paths needs no code change.
#pragma once

#if __has_include("pulse/v1/pulse.grpc.pb.h")
#include "pulse/v1/pulse.grpc.pb.h"  // IWYU pragma: export
#include "pulse/v1/pulse.pb.h"       // IWYU pragma: export
#else
#include "proto/pulse/v1/pulse.grpc.pb.h"  // IWYU pragma: export
#include "proto/pulse/v1/pulse.pb.h"       // IWYU pragma: export
#endif
