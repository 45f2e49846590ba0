# CMake generated Testfile for 
# Source directory: /work/main/tests/frame
# Build directory: /work/main/build/tests/frame
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[test_frame]=] "/work/main/build/tests/frame/test_frame")
set_tests_properties([=[test_frame]=] PROPERTIES  LABELS "frame" TIMEOUT "600" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;104;add_test;/work/main/tests/frame/CMakeLists.txt;1;mmk_add_test;/work/main/tests/frame/CMakeLists.txt;0;")
