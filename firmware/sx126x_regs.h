/*
 * firmware/sx126x_regs.h: SX1261/SX1262 command opcodes, IRQ bits and registers, from
 * the Semtech SX1261/2 datasheet (rev 2.1, chapter 13 "Commands Interface" and
 * chapter 12 "Register Map"). Shared by the driver (firmware/sx126x.c) and the host
 * build's chip model (firmware/host/sx126x_model.c).
 */
#ifndef APAGON_FW_SX126X_REGS_H
#define APAGON_FW_SX126X_REGS_H

/* Operational modes (13.1). */
#define SX126X_SET_SLEEP            0x84
#define SX126X_SET_STANDBY          0x80
#define SX126X_SET_FS               0xC1
#define SX126X_SET_TX               0x83
#define SX126X_SET_RX               0x82
#define SX126X_SET_CAD              0xC5
#define SX126X_SET_REGULATOR_MODE   0x96
#define SX126X_CALIBRATE            0x89
#define SX126X_CALIBRATE_IMAGE      0x98
#define SX126X_SET_PA_CONFIG        0x95
/* Registers and buffer (13.2). */
#define SX126X_WRITE_REGISTER       0x0D
#define SX126X_READ_REGISTER        0x1D
#define SX126X_WRITE_BUFFER         0x0E
#define SX126X_READ_BUFFER          0x1E
/* DIO and IRQ control (13.3). */
#define SX126X_SET_DIO_IRQ_PARAMS   0x08
#define SX126X_GET_IRQ_STATUS       0x12
#define SX126X_CLEAR_IRQ_STATUS     0x02
#define SX126X_SET_DIO2_RF_SWITCH   0x9D
#define SX126X_SET_DIO3_TCXO        0x97
/* RF, modulation and packet (13.4). */
#define SX126X_SET_RF_FREQUENCY     0x86
#define SX126X_SET_PACKET_TYPE      0x8A
#define SX126X_GET_PACKET_TYPE      0x11
#define SX126X_SET_TX_PARAMS        0x8E
#define SX126X_SET_MODULATION_PARAMS 0x8B
#define SX126X_SET_PACKET_PARAMS    0x8C
#define SX126X_SET_CAD_PARAMS       0x88
#define SX126X_SET_BUFFER_BASE_ADDRESS 0x8F
#define SX126X_SET_LORA_SYMB_TIMEOUT 0xA0
/* Status (13.5). */
#define SX126X_GET_STATUS           0xC0
#define SX126X_GET_RSSI_INST        0x15
#define SX126X_GET_RX_BUFFER_STATUS 0x13
#define SX126X_GET_PACKET_STATUS    0x14
#define SX126X_GET_DEVICE_ERRORS    0x17
#define SX126X_CLEAR_DEVICE_ERRORS  0x07

/* IRQ bits (table 13-29). */
#define SX126X_IRQ_TX_DONE          0x0001
#define SX126X_IRQ_RX_DONE          0x0002
#define SX126X_IRQ_PREAMBLE         0x0004
#define SX126X_IRQ_SYNC_WORD        0x0008
#define SX126X_IRQ_HEADER_VALID     0x0010
#define SX126X_IRQ_HEADER_ERR       0x0020
#define SX126X_IRQ_CRC_ERR          0x0040
#define SX126X_IRQ_CAD_DONE         0x0080
#define SX126X_IRQ_CAD_DETECTED     0x0100
#define SX126X_IRQ_TIMEOUT          0x0200
#define SX126X_IRQ_ALL              0x03FF

/* SetStandby argument (13.1.2). */
#define SX126X_STDBY_RC             0x00
#define SX126X_STDBY_XOSC           0x01
/* SetPacketType (13.4.2). */
#define SX126X_PACKET_TYPE_GFSK     0x00
#define SX126X_PACKET_TYPE_LORA     0x01

/* GetStatus chip modes, bits 6:4 of the status byte (13.5.1). */
#define SX126X_MODE_STBY_RC         0x2
#define SX126X_MODE_STBY_XOSC       0x3
#define SX126X_MODE_FS              0x4
#define SX126X_MODE_RX              0x5
#define SX126X_MODE_TX              0x6

/* Registers (chapter 12). */
#define SX126X_REG_LORA_SYNC_WORD   0x0740  /* two bytes, MSB first */
#define SX126X_REG_TX_MODULATION    0x0889  /* 500 kHz quality workaround (15.1) */
#define SX126X_REG_TX_CLAMP         0x08D8  /* PA clamping workaround (15.2) */
#define SX126X_REG_OCP              0x08E7  /* over-current limit, 2.5 mA steps */

/* RfFreq = f * 2^25 / 32 MHz (13.4.1). */
#define SX126X_XTAL_HZ              32000000u

#endif
