# --- the echo demo: echo_client against kup_echo.ko on FreeBSD (make demo-freebsd-vm)
setenv KUP_QUIET 1
setenv KUP_BACKEND kernel
load /mod/kup.ko
load /mod/kup_echo.ko
present /dev/kup_echo
step "echo client against kup_echo.ko" /bin/echo_client -n 20000
unload kup_echo.ko
unload kup.ko
