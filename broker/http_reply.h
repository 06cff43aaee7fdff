// JSON replies of the HTTP API (http_api.cc and http_actions.cc): one
// shape, {"ok": false, "error": "..."}, for every refusal.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace broker {

inline void SendJson(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  // Stores written before release 2 may hold text that is not UTF-8:
  // replaced (U+FFFD), never an exception and a 500.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

inline void SendRefusal(httplib::Response& res, int status, const std::string& error) {
  SendJson(res, {{"ok", false}, {"error", error}}, status);
}

// A broker refusal by its code: 503 when it could not do it now, 404 for
// what it does not know, 400 for the rest.
inline void SendError(httplib::Response& res, const common::Status& s) {
  const int status = s.code() == common::Code::kIoError    ? 503
                     : s.code() == common::Code::kNotFound ? 404
                                                           : 400;
  SendRefusal(res, status, s.message());
}

}  // namespace broker
