#!/bin/sh
# Prints 1 when OpenBLAS's cblas header and library can be linked, else 0 (used by native/binding.gyp).
tmp=$(mktemp -d)
printf '#include <cblas.h>\nint main(){float a=1,b=1,c=0;cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,1,1,1,1.f,&a,1,&b,1,0.f,&c,1);return c==1.f?0:1;}\n' > "$tmp/t.c"
if cc "$tmp/t.c" -o "$tmp/t" -lopenblas >/dev/null 2>&1; then echo 1; else echo 0; fi
rm -rf "$tmp"
