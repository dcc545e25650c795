# common/local.mk - small library shared by every Kemari program
noinst_LIBRARIES += common/libkemari-common.a
common_libkemari_common_a_SOURCES = \
	common/log.c common/log.h
