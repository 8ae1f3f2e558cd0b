#!/usr/bin/env python3
"""Runs a command with a pseudo-terminal as its stdin and answers its first question.

Usage: on_terminal.py ANSWER COMMAND [ARGS...]

stdout and stderr stay pipes (passed through unchanged); when stderr shows a `[y/N]`
question, ANSWER and a newline are typed on the terminal. Exits with the command's code
and reports on stderr whether a question was asked, so a test can tell.
"""

import os
import pty
import select
import subprocess
import sys

answer, command = sys.argv[1], sys.argv[2:]
master, slave = pty.openpty()
child = subprocess.Popen(command, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.close(slave)
names = {child.stdout.fileno(): "stdout", child.stderr.fileno(): "stderr"}
seen = {"stdout": b"", "stderr": b""}
asked = False
while names:
    ready, _, _ = select.select(list(names), [], [], 120)
    if not ready:
        child.kill()
        break
    for fd in ready:
        data = os.read(fd, 65536)
        if not data:
            del names[fd]
            continue
        seen[names[fd]] += data
        if not asked and b"[y/N]" in seen["stderr"]:
            os.write(master, answer.encode() + b"\n")
            asked = True
code = child.wait()
os.close(master)
sys.stdout.buffer.write(seen["stdout"])
sys.stderr.buffer.write(seen["stderr"])
sys.stderr.write(f"\n[on_terminal: {'asked' if asked else 'not asked'}]\n")
sys.exit(code if code >= 0 else 128 - code)
