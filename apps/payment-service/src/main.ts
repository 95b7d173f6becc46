import { loadConfig } from '@orderflow/config';
import { runService } from '@orderflow/service';
import { paymentConfigSchema } from './config';
import { paymentService } from './service';

void runService(paymentService(loadConfig(paymentConfigSchema(8083))).definition);
