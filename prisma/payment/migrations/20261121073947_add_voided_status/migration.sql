-- AlterEnum
ALTER TYPE "PaymentStatus" ADD VALUE 'VOIDED';
