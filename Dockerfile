FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Node 20 as `engines` (>= 20.19); every dependency in the lock supports it. The committed lock, exactly.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
RUN npm run build:playground
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "src/server.ts"]
