#ifndef NEO_CHDF5_SHIM_H
#define NEO_CHDF5_SHIM_H
#include <hdf5.h>
// HDF5 exposes its predefined types and property defaults as macros over globals that are set
// by H5open(); Swift cannot import those macros, so each gets a static inline accessor.
static inline hid_t neo_h5t_native_float(void) { H5open(); return H5T_NATIVE_FLOAT; }
static inline hid_t neo_h5t_native_double(void) { H5open(); return H5T_NATIVE_DOUBLE; }
static inline hid_t neo_h5t_native_int64(void) { H5open(); return H5T_NATIVE_INT64; }
static inline hid_t neo_h5t_native_uint64(void) { H5open(); return H5T_NATIVE_UINT64; }
static inline hid_t neo_h5t_native_int32(void) { H5open(); return H5T_NATIVE_INT32; }
static inline hid_t neo_h5t_native_uint8(void) { H5open(); return H5T_NATIVE_UINT8; }
static inline hid_t neo_h5t_c_s1(void) { H5open(); return H5T_C_S1; }
static inline hid_t neo_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t neo_h5s_all(void) { return H5S_ALL; }
static inline hid_t neo_h5p_file_access(void) { H5open(); return H5P_FILE_ACCESS; }
static inline hid_t neo_h5p_dataset_create(void) { H5open(); return H5P_DATASET_CREATE; }
static inline hid_t neo_h5p_file_create(void) { H5open(); return H5P_FILE_CREATE; }
static inline size_t neo_h5t_variable(void) { return H5T_VARIABLE; }
#endif
