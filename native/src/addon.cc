#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("hasOpenBlas", Napi::Boolean::New(env,
#ifdef MD2PR_HAVE_OPENBLAS
    true
#else
    false
#endif
  ));
  return exports;
}

NODE_API_MODULE(md2pr_native, Init)
