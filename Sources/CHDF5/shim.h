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
// File access flags, error-stack, link-creation and little-endian file types (all macros over
// library globals or casts that Swift cannot import).
static inline unsigned neo_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned neo_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned neo_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned neo_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline hid_t neo_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t neo_h5p_link_create(void) { H5open(); return H5P_LINK_CREATE; }
static inline hid_t neo_h5t_ieee_f32le(void) { H5open(); return H5T_IEEE_F32LE; }
static inline hid_t neo_h5t_ieee_f64le(void) { H5open(); return H5T_IEEE_F64LE; }
static inline hid_t neo_h5t_std_i64le(void) { H5open(); return H5T_STD_I64LE; }
static inline hid_t neo_h5t_std_u64le(void) { H5open(); return H5T_STD_U64LE; }
static inline hid_t neo_h5t_std_u8le(void) { H5open(); return H5T_STD_U8LE; }
static inline hsize_t neo_h5s_unlimited(void) { return H5S_UNLIMITED; }
#endif
