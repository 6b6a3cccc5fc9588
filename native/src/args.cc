#include <cmath>

#include "common.h"

namespace md2pr {

Args::Args(const Napi::CallbackInfo& info, const char* kernel, size_t count)
    : env_(info.Env()), info_(info), kernel_(kernel) {
  if (info.Length() != count) {
    typeError("expected " + std::to_string(count) + " arguments, got " + std::to_string(info.Length()));
  }
}

Napi::Value Args::fail() {
  std::string msg = std::string(kernel_) + ": " + err_;
  if (range_) {
    Napi::RangeError::New(env_, msg).ThrowAsJavaScriptException();
  } else {
    Napi::TypeError::New(env_, msg).ThrowAsJavaScriptException();
  }
  return Napi::Env(env_).Undefined();
}

void Args::typeError(const std::string& msg) {
  if (err_.empty()) { err_ = msg; range_ = false; }
}
void Args::rangeError(const std::string& msg) {
  if (err_.empty()) { err_ = msg; range_ = true; }
}

void* Args::typed(size_t i, const char* name, napi_typedarray_type want, const char* wantName, size_t* len,
                  bool nullable) {
  *len = 0;
  if (!ok()) return nullptr;
  napi_value v = info_[i];
  if (nullable) {
    napi_valuetype t;
    if (napi_typeof(env_, v, &t) == napi_ok && (t == napi_null || t == napi_undefined)) return nullptr;
  }
  bool is = false;
  napi_is_typedarray(env_, v, &is);
  if (!is) {
    typeError(std::string(name) + " must be a " + wantName + (nullable ? " or null" : ""));
    return nullptr;
  }
  napi_typedarray_type type;
  size_t length;
  void* data;  // already adjusted by the view's byteOffset
  if (napi_get_typedarray_info(env_, v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != want) {
    typeError(std::string(name) + " must be a " + wantName);
    return nullptr;
  }
  *len = length;
  return data;
}

float* Args::f32(size_t i, const char* name, size_t* len) {
  return static_cast<float*>(typed(i, name, napi_float32_array, "Float32Array", len, false));
}
float* Args::f32OrNull(size_t i, const char* name, size_t* len) {
  return static_cast<float*>(typed(i, name, napi_float32_array, "Float32Array", len, true));
}
int32_t* Args::i32(size_t i, const char* name, size_t* len) {
  return static_cast<int32_t*>(typed(i, name, napi_int32_array, "Int32Array", len, false));
}
uint8_t* Args::u8(size_t i, const char* name, size_t* len) {
  return static_cast<uint8_t*>(typed(i, name, napi_uint8_array, "Uint8Array", len, false));
}

double Args::num(size_t i, const char* name) {
  if (!ok()) return 0;
  double d;
  if (napi_get_value_double(env_, info_[i], &d) != napi_ok) {
    typeError(std::string(name) + " must be a number");
    return 0;
  }
  return d;
}

int64_t Args::dim(size_t i, const char* name) {
  double d = num(i, name);
  if (!ok()) return 0;
  if (!(d >= 0 && d < 2147483648.0) || d != std::floor(d)) {
    rangeError(std::string(name) + " must be an integer in [0, 2^31), got " + std::to_string(d));
    return 0;
  }
  return static_cast<int64_t>(d);
}

bool Args::boolean(size_t i, const char* name) {
  if (!ok()) return false;
  bool b;
  if (napi_get_value_bool(env_, info_[i], &b) != napi_ok) {
    typeError(std::string(name) + " must be a boolean");
    return false;
  }
  return b;
}

uint32_t Args::u32(size_t i, const char* name) {
  if (!ok()) return 0;
  uint32_t u;
  if (napi_get_value_uint32(env_, info_[i], &u) != napi_ok) {
    typeError(std::string(name) + " must be a number");
    return 0;
  }
  return u;
}

void Args::need(const char* name, size_t len, size_t need) {
  if (ok() && len < need) {
    rangeError(std::string(name) + " has " + std::to_string(len) + " elements, needs " + std::to_string(need));
  }
}

}  // namespace md2pr
