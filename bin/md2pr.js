#!/usr/bin/env node
// Launcher for the md2pr command line: registers tsx's loader in this process (what `node --import tsx` does),
// then runs the TypeScript entry point. Staying in one process keeps stdin/stdout/stderr and the exit code as is.
import "tsx";

await import("../src/cli/main.ts");
