{
  "targets": [
    {
      "target_name": "md2pr_native",
      "sources": [
        "src/addon.cc", "src/args.cc", "src/pool.cc", "src/gemm.cc", "src/softmax.cc", "src/layernorm.cc",
        "src/gelu.cc", "src/dropout.cc", "src/embedding.cc", "src/elementwise.cc", "src/adamw.cc",
        "src/relative.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-ffp-contract=fast", "-pthread", "-Wno-psabi"],
      "ldflags": ["-pthread", "-Wno-psabi"],
      "conditions": [
        ["'<!(sh ../scripts/has-openblas.sh)'=='1'", {
          "defines": ["MD2PR_HAVE_OPENBLAS=1"],
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
