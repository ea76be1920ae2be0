# Included by a Makefile that sets B (its build directory) and BUILD_FLAGS
# (everything its objects and programs are built with: compiler, flags,
# libraries).  Keeps $(B)/flags holding BUILD_FLAGS, rewritten only when
# they changed (make CFLAGS=-O0, another compiler, other libraries), so
# that what depends on $(B)/flags is rebuilt exactly then.
ifneq ($(file <$(B)/flags),$(BUILD_FLAGS))
$(shell mkdir -p $(B))
$(file >$(B)/flags,$(BUILD_FLAGS))
endif
