// Dead letters (notifications.failed, .redeliver, .sync): the stored form's
// decoder, and the checks the broker makes on letters a peer sends. The
// struct itself is in messages.h with the other control messages.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"
#include "schemas/messages.h"

namespace schemas {

// A sink name as the notifier makes them ("slack", "email.team2"):
// 1-64 printable ASCII characters without '/' (it is part of a store key).
inline constexpr std::size_t kMaxSinkNameBytes = 64;
// A reason longer than this is cut (at a character boundary) by the
// notifier before it is sent, so a sync of 100 letters fits in one frame.
inline constexpr std::size_t kMaxDeadLetterReasonBytes = 1000;
// Letters in one notifications.sync request (each list) and reply.
inline constexpr std::size_t kMaxDeadLettersPerSync = 100;

common::Status ValidateSinkName(std::string_view sink);
// The sink name, seq (> 0) and sizes of a letter a peer sent.
common::Status ValidateDeadLetter(const DeadLetter& letter);

// A letter as the broker stores it (schemas::Encode of the struct).
common::Result<DeadLetter> DecodeDeadLetter(std::string_view bytes);

}  // namespace schemas
